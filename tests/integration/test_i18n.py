"""Languages (issue 17, SPEC "languages"): the committed template po/omsgw.pot is what
xgettext extracts from the sources now (a new message cannot be forgotten), every
catalog keeps its msgid's placeholders (msgfmt --check-format), and for each of the 16
languages `omsgw --help` and a CLI error come out in that language and script, with the
placeholders filled. Locales are compiled with localedef into a private LOCPATH
directory (nothing is installed on the machine); the catalogs are the build's
(<build>/locale, through OMSGW_LOCALEDIR).
"""
import os
import re
import shutil
import subprocess

import pytest

from gwtest import BIN

SOURCE_DIR = os.environ.get("OMSGW_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.environ.get("OMSGW_BUILD_DIR") or os.path.dirname(os.path.dirname(os.path.abspath(BIN)))
PO_DIR = os.path.join(SOURCE_DIR, "po")

# locale -> (a word the translated --help must contain, a regex of the expected script)
LATIN = r"[A-Za-zÀ-ɏ]"
LANGUAGES = {
    "zh_CN": ("运行网关", r"[\u4e00-\u9fff]"),
    "zh_TW": ("執行閘道", r"[\u4e00-\u9fff]"),
    "cs_CZ": ("příkazy:", LATIN),
    "nl_NL": ("opdrachten:", LATIN),
    "en_US": ("commands:", LATIN),
    "fr_FR": ("commandes :", LATIN),
    "de_DE": ("Befehle:", LATIN),
    "hu_HU": ("parancsok:", LATIN),
    "it_IT": ("comandi:", LATIN),
    "ja_JP": ("ゲートウェイ", r"[\u3040-\u30ff]"),
    "ko_KR": ("게이트웨이", r"[\uac00-\ud7af]"),
    "pl_PL": ("polecenia:", LATIN),
    "pt_BR": ("ARQUIVO", LATIN),
    "pt_PT": ("FICHEIRO", LATIN),
    "ru_RU": ("команды:", r"[\u0400-\u04ff]"),
    "es_ES": ("comandos:", LATIN),
}


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def catalogs():
    return sorted(open(os.path.join(PO_DIR, "LINGUAS")).read().split())


def test_the_template_is_what_xgettext_extracts_now(tmp_path):
    fresh = tmp_path / "omsgw.pot"
    r = run([os.path.join(PO_DIR, "extract.sh"), str(fresh)])
    assert r.returncode == 0, r.stderr
    committed = open(os.path.join(PO_DIR, "omsgw.pot")).read()
    assert fresh.read_text() == committed, (
        "po/omsgw.pot is stale: run `cmake --build build --target update-pot` and translate "
        "the new messages")


def test_every_catalog_is_current_and_keeps_the_placeholders(tmp_path):
    pot_ids = set(re.findall(r'^msgid (".*"(?:\n".*")*)', open(os.path.join(PO_DIR, "omsgw.pot")).read(), re.M))
    assert len(catalogs()) == 15  # the 16 languages of SPEC, English being the source
    for lang in catalogs():
        po = os.path.join(PO_DIR, f"{lang}.po")
        r = run(["msgfmt", "--check", "--check-format", "--statistics", "-o", str(tmp_path / f"{lang}.mo"), po])
        assert r.returncode == 0, f"{lang}: {r.stderr}"
        assert "untranslated" not in r.stderr and "fuzzy" not in r.stderr, f"{lang}: {r.stderr}"
        ids = set(re.findall(r'^msgid (".*"(?:\n".*")*)', open(po).read(), re.M)) - {'""'}
        assert ids == pot_ids, f"{lang}.po does not match the template (msgmerge it)"


def test_no_catalog_keeps_an_english_sentence(tmp_path):
    """A msgstr copied from its msgid passes msgfmt as "translated"; two help texts shipped
    in English that way in 12 catalogs. Short entries (names, "omsgw: %1%") may match."""
    for lang in catalogs():
        r = run(["msgattrib", "--no-wrap", "--translated", os.path.join(PO_DIR, f"{lang}.po")])
        assert r.returncode == 0, r.stderr
        copies = [m.group(1)[:60] for m in re.finditer(
            r'^msgid ((?:".*"\n?)+)msgstr ((?:".*"\n?)+)', r.stdout, re.M)
            if m.group(1) == m.group(2) and len(m.group(1)) > 40]
        assert not copies, f"{lang}.po keeps English: {copies}"


@pytest.fixture(scope="module")
def locpath():
    """The 16 locales, compiled once per build tree (localedef takes ~1 s each)."""
    if not shutil.which("localedef"):
        pytest.skip("localedef missing (package locales / libc-bin)")
    d = os.path.join(BUILD_DIR, "test-locales")
    os.makedirs(d, exist_ok=True)
    for loc in LANGUAGES:
        out = os.path.join(d, f"{loc}.UTF-8")
        if not os.path.exists(os.path.join(out, "LC_MESSAGES")):
            r = run(["localedef", "-i", loc, "-f", "UTF-8", out])
            assert os.path.exists(os.path.join(out, "LC_CTYPE")), f"localedef {loc}: {r.stderr}"
    return d


def omsgw_in(loc, locpath, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_") and k != "LANGUAGE"}
    env.update(LANG=f"{loc}.UTF-8", LOCPATH=locpath, OMSGW_LOCALEDIR=os.path.join(BUILD_DIR, "locale"))
    return run([BIN, *args], env=env)


@pytest.mark.parametrize("loc", sorted(LANGUAGES))
def test_help_and_an_error_in_each_language(loc, locpath):
    word, script = LANGUAGES[loc]
    english_help = omsgw_in("C", locpath, "--help").stdout
    english_error = omsgw_in("C", locpath, "no-such-command").stderr

    help_text = omsgw_in(loc, locpath, "--help")
    assert help_text.returncode == 0
    assert word in help_text.stdout, help_text.stdout
    assert re.search(script, help_text.stdout)
    assert "%1%" not in help_text.stdout

    err = omsgw_in(loc, locpath, "no-such-command").stderr
    first = err.splitlines()[0]
    assert "'no-such-command'" in first or "no-such-command" in first, first  # placeholder filled
    assert not re.search(r"%\d%", err)
    if loc == "en_US":
        assert help_text.stdout == english_help and err == english_error
    else:
        assert help_text.stdout != english_help
        assert first != english_error.splitlines()[0], first
        assert "unknown command" not in first
        assert re.search(script, first.replace("no-such-command", "").replace("omsgw", "")), first


BAD_CONFIG = """listen:
  port: 70000
allowed_hosts: ["ok.example.com", "bad host.example.com"]
"""


@pytest.mark.parametrize("loc", sorted(LANGUAGES))
def test_check_config_messages_in_each_language(loc, locpath, tmp_path):
    """check-config's messages are translated whole, nested reasons included; the
    `FILE:LINE:COL: KEY:` prefix and the values from the file stay as they are."""
    cfg = tmp_path / "omsgw.yaml"
    cfg.write_text(BAD_CONFIG)
    english = omsgw_in("C", locpath, "check-config", "--config", str(cfg))
    local = omsgw_in(loc, locpath, "check-config", "--config", str(cfg))
    assert english.returncode == 1 and local.returncode == 1, local.stderr
    want = [(f"{cfg}:2:9: listen.port: ", ["70000", "65535"]),
            (f"{cfg}:3:35: allowed_hosts[1]: ", ["'bad host.example.com'", "' '"])]
    en_lines = english.stderr.splitlines()
    lines = local.stderr.splitlines()
    assert len(lines) == len(en_lines) == 3, local.stderr  # two errors and the summary
    for (prefix, values), line, en in zip(want, lines, en_lines):
        assert line.startswith(prefix), line
        assert en.startswith(prefix), en
        for v in values:
            assert v in line, line  # placeholders filled with the file's values
        assert not re.search(r"%\d%", line), line
        if loc == "en_US":
            assert line == en
        else:
            assert line != en, line
            text = line[len(prefix):]
            for v in values:
                text = text.replace(v, "")
            assert re.search(LANGUAGES[loc][1], text), line
    assert str(cfg) in lines[2]


def test_relay_proxy_get_lines_up_in_a_wide_script(locpath, tmp_path):
    """Row labels are padded by the columns a terminal shows (CJK characters take two),
    so the values start in one column in every language."""
    cfg = tmp_path / "omsgw.yaml"
    cfg.write_text("{}\n")
    for loc in ("ja_JP", "zh_CN", "de_DE", "C"):
        out = omsgw_in(loc, locpath, "relay-proxy", "get", "--config", str(cfg))
        assert out.returncode == 0, out.stderr
        starts = set()
        for line in out.stdout.splitlines():
            label = re.match(r"^(\S.*?\S?[:：])\s*", line)
            assert label, line
            starts.add(display_width(line[:label.end()]))
        assert len(starts) == 1, (loc, out.stdout)


def display_width(s):
    import unicodedata
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)
