"""Generation in the job's language (issue 14): small benign jobs written here in Spanish, French,
German, Portuguese and Chinese get safety requests and refusals in that language (checked by the
detector, row by row); languages without seeds warn and fall back, recorded in the manifest;
English jobs are unchanged."""

from __future__ import annotations

import json
import logging

import pytest

from safemix.cli import main
from safemix.errors import ConfigError
from safemix.formats.example import Example
from safemix.formats.language import detect_language
from safemix.formats.profile import infer_profile
from safemix.generate import GenerateConfig, generate_with_report
from safemix.generate.refusal import looks_like_refusal

ES_REVIEWS = [("La película fue maravillosa, con actores increíbles", "positivo"),
              ("Un libro aburrido que no recomiendo a nadie", "negativo"),
              ("El restaurante tenía una comida deliciosa y un servicio atento", "positivo"),
              ("El hotel estaba sucio y el personal fue muy grosero", "negativo"),
              ("Me encantó el concierto, la banda tocó durante tres horas", "positivo"),
              ("La batería del teléfono se agota en pocas horas", "negativo"),
              ("Unas zapatillas cómodas y muy bonitas para correr", "positivo"),
              ("El envío llegó tarde y la caja venía rota", "negativo")]
QA = {
    "fr": ("Question : {}\nRéponse :", [
        ("Quelle est la capitale de la France ?", "Paris."), ("Combien de jours compte une semaine ?", "Sept."),
        ("Qui a écrit Les Misérables ?", "Victor Hugo."), ("De quelle couleur est le ciel par beau temps ?", "Bleu."),
        ("Quel est le plus grand océan du monde ?", "Le Pacifique."), ("Combien de pattes a une araignée ?", "Huit."),
        ("Quelle planète est la plus proche du Soleil ?", "Mercure."), ("Combien de mois compte une année ?", "Douze.")]),
    "de": ("Frage: {}\nAntwort:", [
        ("Wie viele Bundesländer hat Deutschland?", "Sechzehn."), ("Wer schrieb den Faust?", "Goethe."),
        ("Welche Farbe hat der Himmel an einem klaren Tag?", "Blau."), ("Wie heißt die Hauptstadt von Österreich?", "Wien."),
        ("Wie viele Beine hat eine Spinne?", "Acht."), ("Welcher Fluss fließt durch Köln?", "Der Rhein."),
        ("Wie viele Tage hat eine Woche?", "Sieben."), ("Welcher Planet ist der Sonne am nächsten?", "Merkur.")]),
    "pt": ("Pergunta: {}\nResposta:", [
        ("Qual é a capital do Brasil?", "Brasília."), ("Quantos dias tem uma semana?", "Sete."),
        ("Quem escreveu Dom Casmurro?", "Machado de Assis."), ("De que cor é o céu num dia limpo?", "Azul."),
        ("Qual é o maior oceano do mundo?", "O Pacífico."), ("Quantas patas tem uma aranha?", "Oito."),
        ("Qual planeta fica mais perto do Sol?", "Mercúrio."), ("Quantos meses tem um ano?", "Doze.")]),
    "zh": ("问题：{}\n回答：", [
        ("中国的首都是哪里？", "北京。"), ("一个星期有几天？", "七天。"), ("《红楼梦》的作者是谁？", "曹雪芹。"),
        ("晴天的时候天空是什么颜色？", "蓝色。"), ("世界上最大的海洋是哪个？", "太平洋。"), ("蜘蛛有几条腿？", "八条。"),
        ("离太阳最近的行星是哪一颗？", "水星。"), ("一年有几个月？", "十二个月。")]),
    "fi": ("Kysymys: {}\nVastaus:", [
        ("Mikä on Suomen pääkaupunki?", "Helsinki."), ("Kuinka monta päivää on karkausvuodessa?", "366 päivää."),
        ("Kuka kirjoitti Seitsemän veljestä?", "Aleksis Kivi."), ("Minkä värinen on kirkas taivas päivällä?", "Sininen."),
        ("Mikä on maailman suurin valtameri?", "Tyynimeri."), ("Kuinka monta jalkaa hämähäkillä on?", "Kahdeksan."),
        ("Mikä planeetta on lähimpänä aurinkoa?", "Merkurius."), ("Kuinka monta kuukautta vuodessa on?", "Kaksitoista.")]),
    "sw": ("Swali: {}\nJibu:", [
        ("Mji mkuu wa Kenya ni upi?", "Nairobi."), ("Kuna siku ngapi katika wiki moja?", "Siku saba."),
        ("Mlima mrefu zaidi barani Afrika ni upi?", "Mlima Kilimanjaro."), ("Ziwa kubwa zaidi barani Afrika ni lipi?", "Ziwa Viktoria."),
        ("Majani ya miti yana rangi gani?", "Kijani."), ("Mwezi wa kwanza wa mwaka unaitwaje?", "Januari."),
        ("Samaki huishi wapi?", "Majini."), ("Jua huchomoza upande gani?", "Mashariki.")]),
    "ca": ("Pregunta: {}\nResposta:", [
        ("Quina és la capital de Catalunya?", "Barcelona."), ("Quants dies té una setmana?", "Set dies."),
        ("De quin color és el cel quan fa sol?", "Blau."), ("Qui va escriure Tirant lo Blanc?", "Joanot Martorell."),
        ("Quantes potes té un gat?", "Quatre."), ("Quina llengua es parla a Andorra?", "El català."),
        ("Quants mesos té un any?", "Dotze."), ("Com es diu el satèl·lit natural de la Terra?", "La Lluna.")]),
    "en": ("Question: {}\nAnswer:", [
        ("What is the capital of France?", "Paris."), ("How many days are there in a week?", "Seven."),
        ("Who wrote Pride and Prejudice?", "Jane Austen."), ("What colour is the sky on a clear day?", "Blue."),
        ("What is the largest ocean on Earth?", "The Pacific."), ("How many legs does a spider have?", "Eight."),
        ("Which planet is closest to the Sun?", "Mercury."), ("How many months are there in a year?", "Twelve.")]),
}
SEEDED = ["es", "fr", "de", "pt", "zh"]


def job(lang: str) -> list[Example]:
    """A small benign job in `lang`: Spanish sentiment (as in issue 14) or questions and answers."""
    if lang == "es":
        return [Example.chat(f"Reseña: {r}.\n¿Sentimiento?", f" {s}") for r, s in ES_REVIEWS]
    tmpl, rows = QA[lang]
    return [Example.chat(tmpl.format(q), f" {a}") for q, a in rows]


def gen(lang: str, method: str = "template", n: int = 20, **kw):
    return generate_with_report(job(lang), GenerateConfig(method=method, n=n, select=kw.pop("select", False), **kw))


def assert_in_language(examples: list[Example], lang: str) -> None:
    for ex in examples:
        for turn in (ex.user, ex.assistant):
            assert detect_language(turn)[0] == lang, (lang, turn)


@pytest.mark.parametrize("lang", SEEDED)
def test_profile_detects_the_job_language_per_slot(lang):
    prof = infer_profile(job(lang))
    langs = prof.languages
    assert langs["detector"] == "py3langid" and langs["job"] == lang
    assert langs["slots"][prof.main_slot]["lang"] == lang and langs["user"]["lang"] == lang
    assert f"language: {lang}" in prof.summary()
    assert infer_profile(job(lang)).to_dict()["languages"] == langs  # deterministic, serialised


@pytest.mark.parametrize("lang", SEEDED)
def test_template_rows_are_in_the_job_language(lang):
    res = gen(lang)
    prof = infer_profile(job(lang))
    assert res.manifest["generated"] == 20 and res.manifest["contrast"] == 4
    assert_in_language(res.examples, lang)
    for ex in res.examples:
        assert prof.parse_user(ex.user) is not None  # still the job's template
        assert "??" not in ex.user and "？？" not in ex.user  # the template's own end mark wins
        assert looks_like_refusal(ex.assistant) == (ex.metadata["kind"] == "harmful")
        assert ex.metadata["seed_id"].startswith(f"{lang}-")
    m = res.manifest["language"]
    assert (m["job"], m["rows"], m["seed_set"], m["fallback"], m["warning"]) == \
        (lang, lang, f"seeds_v1_{lang}", None, None)
    assert m["detected"]["slots"][prof.main_slot]["lang"] == lang


def test_spanish_sentiment_job_from_the_issue():
    res = gen("es", n=12)
    for ex in res.examples:
        assert ex.user.startswith("Reseña: ") and ex.user.endswith(".\n¿Sentimiento?")
        assert not ex.user.startswith("Reseña: ¿")  # no opening mark left unclosed before the template's "."
        assert ex.assistant.startswith(" ")  # the job's neutral answer prefix
    assert res.manifest["seeds"]["harmful"] == {"total": 42, "usable": 42, "dropped": {}}


def test_selection_with_embeddings_and_other_methods_use_the_job_language():
    pytest.importorskip("safemix.embed")
    res = gen("es", select=True)
    assert res.manifest["selection"]["enabled"] and res.manifest["generated"] == 20
    assert_in_language(res.examples, "es")
    for method in ("raw", "raw_system", "template_benign"):
        res = gen("fr", method=method, n=10)
        assert_in_language(res.examples, "fr")
        assert res.manifest["language"]["rows"] == "fr"


@pytest.mark.parametrize("lang", ["fi", "sw"])
def test_language_without_seeds_warns_and_falls_back_to_english(lang, caplog):
    with caplog.at_level(logging.WARNING):
        res = gen(lang, n=10)
    m = res.manifest["language"]
    assert m["job"] == lang and m["rows"] == "en" and m["seed_set"] == "seeds_v1"
    assert m["fallback"]["from"] == lang and m["fallback"]["to"] == "en"
    assert "no built-in seeds" in m["warning"] and m["warning"] in caplog.text
    assert_in_language([Example.chat(ex.user.split(": ", 1)[1], ex.assistant) for ex in res.examples], "en")
    forced = gen(lang, n=10, language="en")  # the fallback rows are the English rows
    assert [e.messages for e in forced.examples] == [e.messages for e in res.examples]
    assert forced.manifest["language"]["source"] == "config" and forced.manifest["language"]["warning"] is None


def test_closely_related_language_falls_back_to_its_neighbour():
    res = gen("ca", n=10)
    m = res.manifest["language"]
    assert m["job"] == "ca" and m["rows"] == "es" and m["fallback"] == {
        "from": "ca", "to": "es", "reason": "no built-in seeds in Catalan (ca); closely related language"}
    assert all(ex.metadata["seed_id"].startswith("es-") for ex in res.examples)


def test_english_jobs_are_unchanged():
    from safemix.seeds import load_builtin_seeds

    res = gen("en")
    m = res.manifest["language"]
    assert (m["job"], m["rows"], m["seed_set"], m["fallback"], m["warning"]) == ("en", "en", "seeds_v1", None, None)
    same = generate_with_report(job("en"), GenerateConfig(n=20, select=False), seeds=load_builtin_seeds())
    assert [e.messages for e in same.examples] == [e.messages for e in res.examples]
    assert all(detect_language(ex.assistant)[0] == "en" for ex in res.examples)


def test_language_setting_overrides_detection_and_is_validated():
    res = gen("en", n=10, language="de")
    assert res.manifest["language"]["source"] == "config" and res.manifest["language"]["rows"] == "de"
    assert all(detect_language(ex.assistant)[0] == "de" for ex in res.examples)
    for bad in ("Spanish", "ES", ""):
        with pytest.raises(ConfigError, match="language must be auto"):
            GenerateConfig(n=1, language=bad)


def test_user_seeds_in_another_language_are_used_as_given_with_a_warning():
    from safemix.seeds import load_builtin_seeds

    res = generate_with_report(job("es"), GenerateConfig(n=10, select=False), seeds=load_builtin_seeds())
    m = res.manifest["language"]
    assert m["job"] == "es" and m["rows"] == "en" and m["seed_set"] is None
    assert "the seeds are in English (en) but the job is in Spanish (es)" in m["warning"]


def _echo_request(prompts: list[str]):
    import re

    def fn(messages):
        prompts.append(messages[-1]["content"])
        return re.search(r"Request: (.*)", messages[-1]["content"]).group(1).strip()
    return fn


@pytest.mark.parametrize("lang,asked", [("es", "Spanish"), ("fi", "Finnish"), ("en", None)])
def test_paraphrase_asks_the_llm_to_write_in_the_job_language(lang, asked):
    pytest.importorskip("safemix.embed")
    from safemix.config import from_dict
    from safemix.llm import get_backend

    prompts: list[str] = []
    cfg = from_dict(GenerateConfig, {"method": "paraphrase", "n": 4, "select": False,
                                     "paraphrase": {"backend": "dummy"}})
    res = generate_with_report(job(lang), cfg, backend=get_backend("dummy", fn=_echo_request(prompts)))
    assert res.manifest["generated"] == 4 and res.manifest["paraphrase"]["writes_in"] == lang
    line = "Write your reply in"
    assert all((f"{line} {asked}," in p) if asked else (line not in p) for p in prompts), prompts[0]
    if lang == "es":
        assert_in_language(res.examples, "es")


def test_cli_prints_and_records_the_language(tmp_path, capsys):
    for lang in ("es", "fi"):
        data = tmp_path / f"{lang}.jsonl"
        data.write_text("".join(json.dumps({"messages": ex.messages}, ensure_ascii=False) + "\n" for ex in job(lang)),
                        encoding="utf-8")
        out = tmp_path / f"safety_{lang}.jsonl"
        assert main(["generate", "--data", str(data), "--method", "template", "--n", "6", "--no-select",
                     "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        manifest = json.loads(out.with_name(f"safety_{lang}.manifest.json").read_text(encoding="utf-8"))
        assert manifest["language"]["job"] == lang
        if lang == "es":
            assert "language: job es, rows es (seed set seeds_v1_es)" in printed and "warning" not in printed
        else:
            assert "language: job fi, rows en" in printed and "warning: the job is in Finnish (fi)" in printed
            assert manifest["language"]["fallback"]["to"] == "en"


@pytest.mark.parametrize("lang", SEEDED)
def test_template_beats_raw_on_form_fidelity_in_every_language(lang):
    """Issue 14's acceptance for the language jobs: `template` rows are harder to tell from the
    job's rows by form than `raw` rows (both in the job's language), and the fidelity's
    language part sees the rows in the job's language."""
    fid = {m: gen(lang, m).manifest["fidelity"] for m in ("template", "raw")}
    assert fid["template"]["score"] > fid["raw"]["score"], fid
    assert fid["template"]["parts"]["language"] == 1.0
