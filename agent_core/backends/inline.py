"""``InlineBedrockAgent``: an inline Bedrock agent with the Code Interpreter
(InvokeInlineAgent): a foundation model id, an instruction and the
``AMAZON.CodeInterpreter`` action group, no agent to build first."""
from __future__ import annotations

from typing import Any

from agent_core.backends.base import AgentRequest
from agent_core.backends.bedrock import _BedrockAgentsBackend, input_text, session_files
from agent_core.config import Settings

DEFAULT_INSTRUCTION = (
    "You are a careful data analyst working for financial analysts. Answer questions about "
    "the attached files (price tables such as CSV or Excel with date, open, high, low, close "
    "and volume columns) by writing and running Python code in the code interpreter: load the "
    "data with pandas, check column names, types, missing values and date order before "
    "computing anything, and say what you found. When a chart helps, draw it with matplotlib, "
    "label the axes and save it as a PNG file; save result tables as CSV files. If code "
    "fails, read the error, fix the code and run it again. Keep the final answer short: the "
    "numbers, what they mean, and the names of the files you produced. Never invent data."
)

CODE_INTERPRETER_ACTION_GROUP = {
    "actionGroupName": "CodeInterpreterAction",
    "parentActionGroupSignature": "AMAZON.CodeInterpreter",
}


class InlineBedrockAgent(_BedrockAgentsBackend):
    """InvokeInlineAgent with ``settings.model_id`` and the code interpreter."""

    name = "bedrock-inline"
    operation = "InvokeInlineAgent"

    def __init__(self, settings: Settings, *, client: Any = None,
                 instruction: str = DEFAULT_INSTRUCTION) -> None:
        super().__init__(settings, client=client)
        self.instruction = instruction

    def missing_settings(self) -> list[str]:
        return [] if self.settings.model_id else [
            "BEDROCK_MODEL_ID (--model-id; a model or inference profile id with Bedrock access)"]

    def build_params(self, request: AgentRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "foundationModel": self.settings.model_id,
            "instruction": self.instruction,
            "sessionId": request.session_id,
            "inputText": input_text(request),
            "enableTrace": request.enable_trace,
            "endSession": request.end_session,
            "actionGroups": [dict(CODE_INTERPRETER_ACTION_GROUP)],
        }
        if request.files:
            params["inlineSessionState"] = {"files": session_files(request.files)}
        return params

    def _call(self, client: Any, params: dict[str, Any]) -> dict[str, Any]:
        return client.invoke_inline_agent(**params)
