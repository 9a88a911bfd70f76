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
