"""The FAQ knowledge base: the data in locales/*/faq.yml and its matcher."""

from __future__ import annotations

import pathlib
import statistics
import time

import pytest
import yaml

from bot.services.faq import TOPICS, Faq, FaqEntry

LOCALES = pathlib.Path(__file__).resolve().parent.parent / "locales"
LANGUAGES = ("zh", "en")
MAX_ANSWER_CHARS = {"zh": 300, "en": 600}
MAX_QUESTION_CHARS = {"zh": 20, "en": 40}
MIN_ENTRIES = 35
MIN_EXAMPLES = 4
HELD_OUT_PASS_RATE = 0.9

# Paraphrases written for this test, not taken from the YAML (a test below checks that):
# the matcher must find each one's entry first, with a confident score.
HELD_OUT: dict[str, list[tuple[str, str]]] = {
    "zh": [
        ("我想看看5G套餐都有什么档位", "plan_5g"),
        ("有没有十几二十块钱的便宜套餐", "plan_prices"),
        ("流量快用完了想再买点", "data_pack"),
        ("怎么知道本月流量还剩多少", "data_usage"),
        ("我想给爸妈办个副卡共享流量", "family_plan"),
        ("套餐太贵了想换低一点的", "change_plan"),
        ("帮我查下话费余额", "bill_check"),
        ("这个月账单怎么比平时多了一百多", "bill_high"),
        ("用支付宝怎么交话费", "payment_methods"),
        ("能不能每个月自动从银行卡扣话费", "autopay"),
        ("报销需要话费发票 怎么开", "invoice"),
        ("欠费停机了交完钱多久能恢复", "overdue_suspension"),
        ("上个月多扣的钱能退回来吗", "refund"),
        ("新房子想装个光纤宽带", "broadband_install"),
        ("家里wifi卡死了 网速特别慢", "broadband_slow"),
        ("光猫上的LOS灯一直闪红灯", "modem_restart"),
        ("下个月搬家 宽带能移过去吗", "broadband_move"),
        ("千兆宽带一个月多少钱", "broadband_price"),
        ("下周去泰国旅游 手机要开什么", "roaming_activate"),
        ("在美国打电话多少钱一分钟", "roaming_prices"),
        ("下个月去香港出差 流量怎么收费", "roaming_hmt"),
        ("出国前想买个境外流量包", "roaming_data_pack"),
        ("我这个号码能转到别的运营商吗", "porting_eligibility"),
        ("携号转网具体要怎么操作", "porting_steps"),
        ("携号转网要交手续费吗", "porting_fees"),
        ("我们小区是不是网络故障了", "outage_check"),
        ("手机突然一格信号都没有", "outage_what_to_do"),
        ("宽带断了两天 能不能补偿", "outage_compensation"),
        ("为什么我在家只有4G没有5G", "coverage_5g"),
        ("升级5G要不要换新卡", "sim_5g"),
        ("我这手机能不能用5G网络", "phone_5g"),
        ("营业厅周日几点关门", "store_hours"),
        ("附近哪有星联的营业厅", "store_nearest"),
        ("去营业厅办业务要带户口本吗", "store_documents"),
        ("App上可以办哪些业务", "online_hall"),
        ("手机被偷了 卡要怎么挂失", "sim_lost"),
        ("SIM卡坏了想换张新的", "sim_replace"),
        ("苹果手表怎么开通eSIM", "esim"),
        ("开机让输入PUK码怎么办", "sim_puk"),
        ("你们会不会把我的个人信息卖给别人", "privacy_data_use"),
        ("天天收到你们的推销短信 烦死了", "marketing_opt_out"),
        ("有人打电话自称客服让我报验证码", "account_security"),
        ("服务密码不记得了怎么重置", "service_password"),
        ("怎么取消包月的视频会员业务", "vas_unsubscribe"),
        ("办了宽带以后光猫一直不亮灯", "modem_restart"),
        ("话费可以用微信付吗", "payment_methods"),
        ("开的发票能改公司抬头吗", "invoice"),
        ("出差去日本 漫游资费贵不贵", "roaming_prices"),
        ("携号转网要满足哪些条件", "porting_eligibility"),
        ("换了新手机不知道怎么打开5G", "phone_5g"),
        ("营业厅春节放假吗", "store_hours"),
        ("我的eSIM手表怎么办理", "esim"),
        ("垃圾营销短信怎么退掉", "marketing_opt_out"),
        ("账户里的个人信息你们拿去干什么了", "privacy_data_use"),
        ("每月扣的那个音乐包怎么退掉", "vas_unsubscribe"),
        ("宽带装好后一直掉线", "broadband_slow"),
        ("老人机用什么套餐比较省钱", "plan_prices"),
        ("这个月流量超了好几个G 有什么办法", "data_pack"),
        ("欠费了 号码会不会被注销", "overdue_suspension"),
        ("我身份证名下是不是被人办了手机号", "account_security"),
        ("光猫背面的复位键能按吗", "modem_restart"),
        ("新开的宽带多久上门装", "broadband_install"),
        ("去澳门旅游手机需要开什么", "roaming_hmt"),
        ("转网以后原来的话费能退吗", "porting_fees"),
        ("停电断网了好几天 有没有赔偿", "outage_compensation"),
        ("想让手表不带手机也能打电话", "esim"),
        ("营销电话一天打好几个 怎么屏蔽", "marketing_opt_out"),
        ("营业厅办理过户要带什么", "store_documents"),
        ("出国前要不要先买流量", "roaming_data_pack"),
        ("我家宽带晚上一到八点就特别卡", "broadband_slow"),
        ("装宽带的师傅什么时候来", "broadband_install"),
        ("我想把套餐换成99那档", "change_plan"),
        ("话费充到别人号码上了", "refund"),
        ("手机卡插上没反应", "sim_replace"),
        ("有没有办法拦截骚扰电话", "marketing_opt_out"),
        ("你们的套餐哪个最实惠", "plan_prices"),
        ("5G信号在我们村有吗", "coverage_5g"),
        ("发票能不能寄到邮箱", "invoice"),
        ("宽带坏了修好前的月租怎么算", "outage_compensation"),
        ("星联App登录不上去 密码忘了", "service_password"),
    ],
    "en": [
        ("show me your 5G plan tiers", "plan_5g"),
        ("what's your cheapest monthly plan", "plan_prices"),
        ("I've used up all my data, can I buy more", "data_pack"),
        ("how much data remains on my plan", "data_usage"),
        ("can my family share one plan", "family_plan"),
        ("I'd like to move to a lower plan", "change_plan"),
        ("what's my current balance", "bill_check"),
        ("my bill this month is way higher than usual", "bill_high"),
        ("how do I pay using alipay", "payment_methods"),
        ("set up automatic payments from my bank card", "autopay"),
        ("I need an invoice for my company", "invoice"),
        ("my number got suspended because I didn't pay", "overdue_suspension"),
        ("I want my money back for a wrong charge", "refund"),
        ("I'd like to get fibre broadband at home", "broadband_install"),
        ("my wifi is really slow at night", "broadband_slow"),
        ("the LOS light on my modem is flashing red", "modem_restart"),
        ("I'm moving next month, can my broadband come with me", "broadband_move"),
        ("price of 1000M broadband", "broadband_price"),
        ("travelling to Thailand, how do I enable roaming", "roaming_activate"),
        ("how much are calls when roaming in the USA", "roaming_prices"),
        ("going to Macau next week, what are the charges", "roaming_hmt"),
        ("buy a data package before my trip to Europe", "roaming_data_pack"),
        ("am I allowed to port my number to another operator", "porting_eligibility"),
        ("walk me through porting my number", "porting_steps"),
        ("is there a charge to port out", "porting_fees"),
        ("is there an outage in my neighbourhood", "outage_check"),
        ("my phone suddenly has no service", "outage_what_to_do"),
        ("my internet was down for two days, do I get money back", "outage_compensation"),
        ("why do I only get 4G at home", "coverage_5g"),
        ("do I have to swap my SIM to use 5G", "sim_5g"),
        ("is my phone 5G capable", "phone_5g"),
        ("what time do stores close on Sunday", "store_hours"),
        ("where's a StarLink shop near me", "store_nearest"),
        ("which ID documents should I take to the store", "store_documents"),
        ("what can I do in the StarLink app", "online_hall"),
        ("my phone was stolen, how do I block the SIM", "sim_lost"),
        ("my SIM card is broken, I need a new one", "sim_replace"),
        ("can I get an eSIM for my smartwatch", "esim"),
        ("my phone wants a PUK code after a wrong PIN", "sim_puk"),
        ("do you sell my personal information", "privacy_data_use"),
        ("please stop sending me promotional texts", "marketing_opt_out"),
        ("someone called claiming to be your staff and asked for my SMS code", "account_security"),
        ("I can't remember my service password", "service_password"),
        ("unsubscribe from the caller ringtone service", "vas_unsubscribe"),
        ("the light on my router box is red", "modem_restart"),
        ("can I pay my phone bill with WeChat", "payment_methods"),
        ("can the invoice show my company name", "invoice"),
        ("how expensive is roaming in Japan", "roaming_prices"),
        ("what conditions must I meet to port my number", "porting_eligibility"),
        ("how do I switch on 5G on my new phone", "phone_5g"),
        ("are stores open during Spring Festival", "store_hours"),
        ("how do I get an eSIM for my watch", "esim"),
        ("how do I opt out of your marketing texts", "marketing_opt_out"),
        ("what do you do with my personal details", "privacy_data_use"),
        ("stop the music subscription you charge me every month", "vas_unsubscribe"),
        ("my broadband keeps dropping out since installation", "broadband_slow"),
        ("what's a good plan for my grandmother who barely uses data", "plan_prices"),
        ("I went way over my data this month, what can I do", "data_pack"),
        ("will my number be cancelled if I don't pay", "overdue_suspension"),
        ("someone may have registered a phone number with my ID", "account_security"),
        ("should I press the reset button on my modem", "modem_restart"),
        ("how soon can an engineer install my broadband", "broadband_install"),
        ("heading to Macau on holiday, what do I need on my phone", "roaming_hmt"),
        ("do I get my remaining credit back after porting", "porting_fees"),
        ("our internet was out for several days, is there compensation", "outage_compensation"),
        ("I want my watch to make calls without my phone", "esim"),
        ("marketing calls every day, how do I make them stop", "marketing_opt_out"),
        ("what should I bring to transfer ownership of a number", "store_documents"),
        ("should I get data before flying abroad", "roaming_data_pack"),
        ("my home internet crawls every evening", "broadband_slow"),
        ("when will the technician come to set up my fibre", "broadband_install"),
        ("I want to switch to the 99 yuan plan", "change_plan"),
        ("I accidentally topped up a stranger's number", "refund"),
        ("my phone doesn't detect the SIM card at all", "sim_replace"),
        ("is there a way to block spam calls", "marketing_opt_out"),
        ("which of your plans is the best value", "plan_prices"),
        ("is there 5G in my village", "coverage_5g"),
        ("can you email me the invoice", "invoice"),
        ("what about my monthly fee while my broadband was broken", "outage_compensation"),
        ("I can't log in to the app, forgot my password", "service_password"),
    ],
}

UNRELATED = [
    "今天天气怎么样",
    "tell me a joke",
    "给我讲个笑话吧",
    "what's the capital of France",
    "😀😂👍🎉",
    "<script>alert(1)</script>",
    "asdfghjkl qwerty",
    "红烧肉怎么做",
]


@pytest.fixture(scope="module")
def faq() -> Faq:
    return Faq.load(LOCALES)


def entries(faq: Faq, language: str) -> list[FaqEntry]:
    return [entry for topic in faq.topics(language) for entry in faq.by_topic(language, topic)]


# ----------------------------------------------------------------------------- the data


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_has_enough_entries_on_every_topic(faq: Faq, language: str) -> None:
    assert len(entries(faq, language)) >= MIN_ENTRIES
    assert faq.topics(language) == list(TOPICS)


def test_languages_have_the_same_ids(faq: Faq) -> None:
    zh, en = ({entry.id for entry in entries(faq, lang)} for lang in LANGUAGES)
    assert zh == en


@pytest.mark.parametrize("language", LANGUAGES)
def test_entries_are_well_formed(faq: Faq, language: str) -> None:
    problems = []
    for entry in entries(faq, language):
        if len(entry.answer) > MAX_ANSWER_CHARS[language]:
            problems.append(f"{entry.id}: answer has {len(entry.answer)} chars")
        if len(entry.question) > MAX_QUESTION_CHARS[language]:
            problems.append(f"{entry.id}: question has {len(entry.question)} chars")
        if len(set(entry.examples)) < MIN_EXAMPLES:
            problems.append(f"{entry.id}: only {len(set(entry.examples))} distinct examples")
        if not 1 <= len(entry.related) <= 3 or len(set(entry.related)) != len(entry.related):
            problems.append(f"{entry.id}: related must be 1-3 distinct ids")
        if any(faq.get(language, target) is None for target in entry.related):
            problems.append(f"{entry.id}: related id does not exist")
        # The caller fills {hotline} with str.format; any other brace would break that.
        try:
            entry.answer.format(hotline="10000")
        except (KeyError, IndexError, ValueError) as error:
            problems.append(f"{entry.id}: answer is not a {{hotline}} template ({error})")
    assert problems == []


def test_entry_shape_matches_across_languages(faq: Faq) -> None:
    for entry in entries(faq, "zh"):
        english = faq.get("en", entry.id)
        assert english is not None
        assert (english.topic, english.related) == (entry.topic, entry.related), entry.id


def test_held_out_paraphrases_are_not_copied_from_the_data(faq: Faq) -> None:
    for language, cases in HELD_OUT.items():
        known = {
            phrase.casefold()
            for entry in entries(faq, language)
            for phrase in (entry.question, *entry.examples)
        }
        copied = [text for text, _ in cases if text.casefold() in known]
        assert copied == [], language


# ----------------------------------------------------------------------------- matching


@pytest.mark.parametrize("language", LANGUAGES)
def test_held_out_paraphrases_match_their_entry(faq: Faq, language: str) -> None:
    cases = HELD_OUT[language]
    assert len(cases) >= 25
    failures = []
    for text, expected in cases:
        found = faq.match(text, language, limit=1)
        top = f"{found[0].entry.id} {found[0].score:.2f}" if found else "nothing"
        if not found or found[0].entry.id != expected or found[0].score < Faq.MATCH_THRESHOLD:
            failures.append(f"{text!r}: expected {expected}, got {top}")
    passed = 1 - len(failures) / len(cases)
    print(f"\n{language}: {passed:.0%} of {len(cases)} held-out paraphrases pass")
    for failure in failures:
        print("  ", failure)
    assert passed >= HELD_OUT_PASS_RATE, failures


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_question_matches_itself(faq: Faq, language: str) -> None:
    for entry in entries(faq, language):
        found = faq.match(entry.question, language, limit=1)
        assert found[0].entry.id == entry.id, entry.question
        assert found[0].score >= Faq.MATCH_THRESHOLD


@pytest.mark.parametrize("text", UNRELATED)
@pytest.mark.parametrize("language", LANGUAGES)
def test_unrelated_text_is_not_a_confident_match(faq: Faq, text: str, language: str) -> None:
    found = faq.match(text, language)
    assert all(match.score < Faq.MATCH_THRESHOLD for match in found), found[:1]


@pytest.mark.parametrize("language", LANGUAGES)
def test_huge_text_is_handled_quickly(faq: Faq, language: str) -> None:
    text = ("宽带网速慢 " if language == "zh" else "broadband is slow ") * 2000
    assert len(text) >= 10_000
    started = time.perf_counter()
    found = faq.match(text, language)
    assert time.perf_counter() - started < 0.05
    assert all(0.0 <= match.score <= 1.0 for match in found)


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "？！。", "..."])
def test_blank_text_matches_nothing(faq: Faq, text: str) -> None:
    assert faq.match(text, "zh") == []
    assert faq.match(text, "en") == []


def test_results_are_ranked_limited_and_bounded(faq: Faq) -> None:
    found = faq.match("宽带多少钱", "zh", limit=5)
    assert 1 <= len(found) <= 5
    scores = [match.score for match in found]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= score <= 1.0 for score in scores)
    assert len({match.entry.id for match in found}) == len(found)
    assert faq.match("宽带多少钱", "zh", limit=0) == []


def test_mixed_chinese_and_english_and_full_width_text(faq: Faq) -> None:
    assert faq.match("ＥＳＩＭ怎么开通", "zh")[0].entry.id == "esim"
    assert faq.match("5g sim卡要换吗", "zh")[0].entry.id == "sim_5g"
    assert faq.match("HOW DO I RESTART MY MODEM???", "en")[0].entry.id == "modem_restart"


def test_match_is_fast(faq: Faq) -> None:
    texts = [text for cases in HELD_OUT.values() for text, _ in cases]
    timings = []
    for _ in range(5):
        for language, cases in HELD_OUT.items():
            for text, _ in cases:
                started = time.perf_counter()
                faq.match(text, language)
                timings.append(time.perf_counter() - started)
    median = statistics.median(timings)
    print(f"\nmedian match time over {len(texts)} texts: {median * 1e6:.0f} µs")
    assert median < 0.001


# ----------------------------------------------------------------------------- languages


def test_unknown_language_falls_back_to_chinese(faq: Faq) -> None:
    assert faq.match("光猫怎么重启", "fr")[0].entry.id == "modem_restart"
    assert faq.topics("xx") == faq.topics("zh")
    chinese = faq.get("zh", "esim")
    assert faq.get("de", "esim") == chinese
    assert chinese is not None
    assert chinese.question == "支持eSIM吗？"


@pytest.mark.parametrize("spelling", ["en-US", "en_GB", "EN"])
def test_regional_spellings_use_the_language(faq: Faq, spelling: str) -> None:
    entry = faq.get(spelling, "esim")
    assert entry is not None
    assert entry.question == "Do you support eSIM?"


def test_get_and_by_topic_on_unknown_keys(faq: Faq) -> None:
    assert faq.get("zh", "no_such_entry") is None
    assert faq.by_topic("zh", "weather") == []


# ----------------------------------------------------------------------------- validation


ENTRY = {
    "topic": "plans",
    "question": "Q?",
    "examples": "- a\n- b\n",
    "answer": "A.",
}


def write(root: pathlib.Path, language: str, entries: list[dict[str, object]]) -> None:
    (root / language).mkdir(parents=True, exist_ok=True)
    document = {"version": "1", "entries": entries}
    (root / language / "faq.yml").write_text(yaml.safe_dump(document, allow_unicode=True))


def test_load_accepts_a_minimal_pair(tmp_path: pathlib.Path) -> None:
    for language in LANGUAGES:
        write(
            tmp_path,
            language,
            [{**ENTRY, "id": "a", "related": ["b"]}, {**ENTRY, "id": "b", "examples": ["x"]}],
        )
    loaded = Faq.load(tmp_path)
    entry = loaded.get("en", "a")
    assert entry is not None
    assert entry.examples == ("a", "b")
    assert entry.related == ("b",)


def test_load_rejects_duplicate_ids(tmp_path: pathlib.Path) -> None:
    for language in LANGUAGES:
        write(tmp_path, language, [{**ENTRY, "id": "a"}, {**ENTRY, "id": "a"}])
    with pytest.raises(ValueError, match="duplicate FAQ id 'a'"):
        Faq.load(tmp_path)


def test_load_rejects_unknown_related_ids(tmp_path: pathlib.Path) -> None:
    for language in LANGUAGES:
        write(tmp_path, language, [{**ENTRY, "id": "a", "related": ["ghost"]}])
    with pytest.raises(ValueError, match="'a' relates to unknown id 'ghost'"):
        Faq.load(tmp_path)


def test_load_rejects_ids_missing_in_one_language(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "zh", [{**ENTRY, "id": "a"}, {**ENTRY, "id": "only_zh"}])
    write(tmp_path, "en", [{**ENTRY, "id": "a"}])
    with pytest.raises(ValueError, match="missing in 'en': only_zh"):
        Faq.load(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"topic": "weather"}, "unknown topic 'weather'"),
        ({"id": "Not-Snake"}, "snake_case"),
        ({"answer": ""}, "'answer' must be a non-empty string"),
        ({"related": "b"}, "'related' must be a list"),
        ({"examples": 3}, "'examples' must be"),
    ],
)
def test_load_rejects_malformed_entries(
    tmp_path: pathlib.Path, change: dict[str, object], message: str
) -> None:
    for language in LANGUAGES:
        write(tmp_path, language, [{**ENTRY, "id": "a", **change}])
    with pytest.raises(ValueError, match=message):
        Faq.load(tmp_path)
