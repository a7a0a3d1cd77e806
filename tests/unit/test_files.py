"""agent_core.files: hostile names, de-duplication, type sniffing, attachment limits."""
from __future__ import annotations

import io
import zipfile

import pytest

from agent_core.files import (
    MAX_NAME_LENGTH, AttachedFile, AttachmentLimitError, NameDeduper, ReturnedFile,
    UnsafeNameError, check_attachment_limits, safe_name, sniff_type,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 20
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20
GIF = b"GIF89a" + b"\x00" * 20
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
CSV = b"date,close\n2024-01-02,101.5\n2024-01-03,102.25\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="4" height="4"/></svg>'


# --- safe_name --------------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [
    ("chart.png", "chart.png"),
    ("C:\\x\\chart.png", "chart.png"),          # Windows folders and drive stripped
    ("C:evil.txt", "evil.txt"),                   # drive-relative
    ("/tmp/out/prices.csv", "prices.csv"),        # absolute POSIX path
    ("reports\\2024/q1.xlsx", "q1.xlsx"),
    ('a<b>c:d"e|f?g*h.csv', "a_b_c_d_e_f_g_h.csv"),
    ("  .hidden.csv  ", "hidden.csv"),             # no dot-files
    ("", "file"),
    ("con.csv", "_con.csv"),                      # Windows device name
    ("Cafe\u0301.csv", "Caf\u00e9.csv"),           # NFC
])
def test_safe_name_reduces_to_one_plain_name(raw, expected):
    assert safe_name(raw) == expected


@pytest.mark.parametrize("raw", [
    "../../etc/passwd", "..", "a/../b.png", "a\x00b.png", "con\x07.csv", "x\r\ny.txt",
    "chart\u202egnp.exe", "bell\x85.csv", 42, None,
])
def test_safe_name_rejects_traversal_and_control_characters(raw):
    with pytest.raises(UnsafeNameError):
        safe_name(raw)


def test_safe_name_caps_length_and_keeps_extension():
    name = safe_name("x" * 500 + ".parquet")
    assert len(name) == MAX_NAME_LENGTH
    assert name.endswith(".parquet") and name.startswith("xxx")
    no_ext = safe_name("y" * 500)
    assert len(no_ext) == MAX_NAME_LENGTH


def test_safe_name_empty_uses_the_default_given():
    assert safe_name("", default="") == ""
    assert safe_name("///", default="upload") == "upload"


# --- NameDeduper --------------------------------------------------------------------
def test_deduper_numbers_repeats_case_insensitively():
    d = NameDeduper()
    assert [d.unique(n) for n in ("chart.png", "chart.png", "CHART.png", "data.csv", "README",
                                  "README", ".env", ".env")] == [
        "chart.png", "chart (2).png", "CHART (3).png", "data.csv", "README", "README (2)",
        ".env", ".env (2)"]


def test_deduper_never_reuses_a_name_it_generated():
    d = NameDeduper()
    first = [d.unique("chart.png"), d.unique("chart.png"), d.unique("chart (2).png")]
    assert len({n.lower() for n in first}) == 3


# --- sniffing -----------------------------------------------------------------------
def _xlsx_bytes() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["date", "close"])
    wb.active.append(["2024-01-02", 101.5])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _parquet_bytes() -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"close": [1.0, 2.0]}), buf)
    return buf.getvalue()


def _docx_like_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("notes.txt", "hello")
    return buf.getvalue()


@pytest.mark.parametrize("data, expected", [
    (PNG, "image/png"),
    (JPEG, "image/jpeg"),
    (GIF, "image/gif"),
    (PDF, "application/pdf"),
    (SVG, "image/svg+xml"),
    (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
    (CSV, "text/csv"),
    (b"a\tb\n1\t2\n", "text/csv"),
    (b'{"a": [1, 2]}', "application/json"),
    (b"just some words\n", "text/plain"),
    (b"\x00\x01\x02\xff\xfe", "application/octet-stream"),
    (b"", "text/plain"),
])
def test_sniff_type(data, expected):
    assert sniff_type(data) == expected


def test_sniff_office_zips_by_their_folders():
    assert sniff_type(_xlsx_bytes()) == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert sniff_type(_docx_like_bytes()) == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    assert sniff_type(_zip_bytes()) == "application/zip"


def test_sniff_parquet_made_by_pyarrow_is_a_table():
    f = ReturnedFile(name="prices.parquet", declared_type="application/octet-stream",
                     data=_parquet_bytes())
    assert f.sniffed_type == "application/vnd.apache.parquet"
    assert f.is_table and not f.is_image


def test_xlsx_is_a_table_and_docx_is_not():
    assert ReturnedFile(name="a.xlsx", declared_type="", data=_xlsx_bytes()).is_table
    assert not ReturnedFile(name="a.docx", declared_type="", data=_docx_like_bytes()).is_table


def test_png_declared_as_csv_is_an_image_not_a_table():
    f = ReturnedFile(name="chart.csv", declared_type="text/csv", data=PNG)
    assert f.media_type == "image/png"
    assert f.is_image and not f.is_table
    assert f.type_mismatch


def test_text_declared_as_png_is_not_an_image():
    f = ReturnedFile(name="chart.png", declared_type="image/png", data=b"<html>not a chart</html>")
    assert not f.is_image and f.is_text
    assert f.type_mismatch


def test_csv_is_a_table_and_tsv_keeps_its_declared_type():
    assert ReturnedFile(name="p.csv", declared_type="text/csv", data=CSV).is_table
    tsv = ReturnedFile(name="p.tsv", declared_type="text/tab-separated-values",
                       data=b"a\tb\n1\t2\n")
    assert tsv.media_type == "text/tab-separated-values" and tsv.is_table
    one_line = ReturnedFile(name="p.csv", declared_type="text/csv", data=b"hello\n")
    assert one_line.media_type == "text/plain" and not one_line.is_table


def test_declared_html_is_served_as_plain_text():
    f = ReturnedFile(name="r.html", declared_type="text/html",
                     data=b"<html><script>alert(1)</script></html>")
    assert f.media_type == "text/plain" and f.is_text


@pytest.mark.parametrize("svg, safe", [
    (SVG, True),
    (b'<svg><script>alert(1)</script></svg>', False),
    (b'<svg onload="alert(1)"/>', False),
    (b'<svg><a href="javascript:alert(1)">x</a></svg>', False),
    (b'<svg><foreignObject><iframe src="x"/></foreignObject></svg>', False),
    (b'<svg><a xlink:href="https://evil.example">x</a></svg>', False),
    (b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg/>',
     False),
    (b'<svg><use href="#glyph"/><image href="data:image/png;base64,iVBO"/></svg>', True),
])
def test_svg_safety(svg, safe):
    f = ReturnedFile(name="c.svg", declared_type="image/svg+xml", data=svg)
    assert f.is_svg
    assert f.is_safe_svg is safe
    assert not f.is_image  # never a raster image


def test_matplotlib_svg_is_safe():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 3, 2])
    ax.set_title("Close price")
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    assert ReturnedFile(name="c.svg", declared_type="image/svg+xml",
                        data=buf.getvalue()).is_safe_svg


def test_returned_file_dict_round_trip():
    f = ReturnedFile(name="chart.png", declared_type="image/png", data=PNG)
    d = f.to_dict()
    assert d == {"name": "chart.png", "declared_type": "image/png", "media_type": "image/png",
                 "size": len(PNG)}
    assert ReturnedFile.from_dict(f.to_dict(include_bytes=True)) == f
    assert ReturnedFile.from_dict(d, data=PNG) == f


# --- attachments --------------------------------------------------------------------
def _attached(n: int, size: int) -> list[AttachedFile]:
    return [AttachedFile.from_bytes(f"prices-{i}.csv", b"x" * size) for i in range(n)]


def test_attached_file_from_bytes_makes_name_safe_and_guesses_type():
    f = AttachedFile.from_bytes("C:\\Users\\me\\prices.csv", CSV)
    assert (f.name, f.media_type, f.use_case, f.size) == ("prices.csv", "text/csv",
                                                          "CODE_INTERPRETER", len(CSV))
    with pytest.raises(UnsafeNameError):
        AttachedFile.from_bytes("../prices.csv", CSV)


def test_limits_accept_five_files_and_ten_megabytes():
    check_attachment_limits(_attached(5, 2 * 1024 * 1024))  # exactly 10 MB: fine


def test_limits_reject_six_files_with_what_to_do():
    with pytest.raises(AttachmentLimitError) as err:
        check_attachment_limits(_attached(6, 10))
    message = str(err.value)
    assert "6 files" in message and "at most 5" in message and "Detach 1" in message


def test_limits_reject_eleven_megabytes_with_what_to_do():
    with pytest.raises(AttachmentLimitError) as err:
        check_attachment_limits(_attached(1, 11 * 1024 * 1024))
    message = str(err.value)
    assert "11.0 MB" in message and "10.0 MB" in message and "Attach fewer" in message


def test_limits_reject_duplicate_names():
    with pytest.raises(AttachmentLimitError, match="same name"):
        check_attachment_limits([AttachedFile.from_bytes("a.csv", CSV),
                                 AttachedFile.from_bytes("A.csv", CSV)])


def test_csv_with_quoted_delimiters_is_a_table():
    """Company names such as "Rodriguez, Figueroa and Sanchez" are quoted in CSV; the file
    is still a table (the synthetic SALES.csv must be shown as one)."""
    data = (b'COMPANY_ID,COMPANY_NAME,SALES_2024\n'
            b'C00001,"Rodriguez, Figueroa and Sanchez",512000\n'
            b'C00002,Acme Ltd,12000\n'
            b'C00003,"Smith, Jones and Co",700000\n')
    f = ReturnedFile(name="SALES.csv", declared_type="text/csv", data=data)
    assert sniff_type(data) == "text/csv"
    assert f.media_type == "text/csv" and f.is_table


def test_ragged_text_with_commas_is_not_a_table():
    data = b"Hello, world.\nThis line has no comma\nand, this, one, has, many\n"
    assert sniff_type(data) == "text/plain"
