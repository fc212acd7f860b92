"""Survey answers (NPS, CSAT, CES) whose comments, in four languages, match their scores."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tenure.demo.common import DAY, ids, timestamps
from tenure.demo.company import COUNTRIES, LANGUAGE, Company

THEMES = ["price", "support", "usability", "performance", "features", "reliability", "onboarding"]
POSITIVE_THEME_P = [0.08, 0.25, 0.27, 0.08, 0.22, 0.05, 0.05]
NEGATIVE_THEME_P = [0.25, 0.2, 0.12, 0.15, 0.1, 0.13, 0.05]

# PHRASES[language][theme] = (positive, negative)
PHRASES: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "price": ("Good value for the price.", "Too expensive for what we get."),
        "support": ("The support team is fast and helpful.", "Support takes days to answer."),
        "usability": (
            "Very easy to use, the team picked it up quickly.",
            "The interface is confusing and hard to navigate.",
        ),
        "performance": (
            "Reports load quickly even with lots of data.",
            "Pages are slow and reports time out.",
        ),
        "features": (
            "The automations and dashboards save us hours every week.",
            "Missing features we need, like custom exports.",
        ),
        "reliability": ("It just works, no outages so far.", "We had several outages this month."),
        "onboarding": (
            "Onboarding was smooth and well guided.",
            "Onboarding was confusing and took too long.",
        ),
    },
    "ja": {
        "price": ("価格に見合った価値があります。", "機能に対して価格が高すぎます。"),
        "support": (
            "サポートの対応が早くてとても丁寧です。",
            "サポートの返信が遅く、何日も待たされました。",
        ),
        "usability": (
            "とても使いやすく、チームもすぐに慣れました。",
            "画面が分かりにくく、操作が難しいです。",
        ),
        "performance": (
            "データが多くてもレポートの表示が速いです。",
            "ページの読み込みが遅く、レポートがタイムアウトします。",
        ),
        "features": (
            "自動化とダッシュボードのおかげで毎週何時間も節約できています。",
            "必要な機能が足りません。エクスポートを自由に設定したいです。",
        ),
        "reliability": (
            "安定していて、障害は一度もありません。",
            "今月は何度も障害が発生しました。",
        ),
        "onboarding": (
            "導入はスムーズで、案内も分かりやすかったです。",
            "導入が分かりにくく、時間がかかりすぎました。",
        ),
    },
    "it": {
        "price": ("Ottimo rapporto qualità-prezzo.", "Troppo caro per quello che offre."),
        "support": (
            "Il supporto è veloce e molto disponibile.",
            "Il supporto risponde dopo giorni.",
        ),
        "usability": (
            "Molto facile da usare, il team l'ha imparato subito.",
            "L'interfaccia è confusa e difficile da usare.",
        ),
        "performance": (
            "I report si caricano velocemente anche con molti dati.",
            "Le pagine sono lente e i report vanno in timeout.",
        ),
        "features": (
            "Le automazioni e le dashboard ci fanno risparmiare ore ogni settimana.",
            "Mancano funzioni che ci servono, come le esportazioni personalizzate.",
        ),
        "reliability": (
            "Funziona sempre, nessun disservizio finora.",
            "Abbiamo avuto diversi disservizi questo mese.",
        ),
        "onboarding": (
            "L'onboarding è stato semplice e ben guidato.",
            "L'onboarding è stato confuso e troppo lungo.",
        ),
    },
    "th": {
        "price": ("คุ้มค่ากับราคามาก", "ราคาแพงเกินไปเมื่อเทียบกับสิ่งที่ได้รับ"),
        "support": ("ทีมซัพพอร์ตตอบเร็วและช่วยเหลือดีมาก", "ซัพพอร์ตตอบช้า ต้องรอหลายวัน"),
        "usability": ("ใช้งานง่ายมาก ทีมเรียนรู้ได้เร็ว", "หน้าจอสับสนและใช้งานยาก"),
        "performance": ("รายงานโหลดเร็วแม้มีข้อมูลเยอะ", "หน้าเว็บช้าและรายงานค้างบ่อย"),
        "features": (
            "ระบบอัตโนมัติและแดชบอร์ดช่วยประหยัดเวลาได้หลายชั่วโมงทุกสัปดาห์",
            "ขาดฟีเจอร์ที่เราต้องการ เช่น การส่งออกข้อมูลแบบกำหนดเอง",
        ),
        "reliability": ("ระบบเสถียร ไม่เคยล่มเลย", "เดือนนี้ระบบล่มหลายครั้ง"),
        "onboarding": ("การเริ่มต้นใช้งานราบรื่นและมีคำแนะนำที่ดี", "การเริ่มต้นใช้งานสับสนและใช้เวลานานเกินไป"),
    },
}
BUT = {"en": " But ", "ja": "ただ、", "it": " Però ", "th": " แต่"}


def comment(rng: np.random.Generator, language: str, band: int) -> str:
    """band: 1 positive, 0 mixed, -1 negative."""
    phrases = PHRASES[language]
    good = phrases[THEMES[rng.choice(len(THEMES), p=POSITIVE_THEME_P)]][0]
    bad = phrases[THEMES[rng.choice(len(THEMES), p=NEGATIVE_THEME_P)]][1]
    if band > 0:
        return good
    if band < 0:
        return bad
    return good + BUT[language] + bad


def survey_table(rng: np.random.Generator, company: Company, tickets: pa.Table) -> pa.Table:
    parts = [_nps(rng, company), _ces(rng, company), _csat(rng, company, tickets)]
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(merged["when"], kind="stable")
    merged = {k: v[order] for k, v in merged.items()}
    lang = np.array([LANGUAGE[COUNTRIES[c]] for c in company.country])[merged["account"]]
    has_comment = rng.random(len(order)) < np.select(
        [merged["survey"] == "nps", merged["survey"] == "csat"], [0.45, 0.35], 0.3
    )
    comments = [
        comment(rng, language, int(band)) if keep else None
        for language, band, keep in zip(lang, merged["band"], has_comment, strict=True)
    ]
    user = company.user_offset[merged["account"]] + (
        rng.random(len(order)) * company.n_users[merged["account"]]
    ).astype(int)
    return pa.table(
        {
            "response_id": ids("R", np.arange(1, len(order) + 1), 7),
            "account_id": [company.account_ids[a] for a in merged["account"]],
            "user_id": [company.user_ids[u] for u in user],
            "survey": merged["survey"].tolist(),
            "score": pa.array(merged["score"], pa.float64()),
            "comment": pa.array(comments, pa.string()),
            "touchpoint": merged["touchpoint"].tolist(),
            "channel": np.asarray(
                rng.choice(["email", "in_app", "web"], len(order), p=[0.5, 0.35, 0.15])
            ).tolist(),
            "language": [
                str(code) if kept else None for code, kept in zip(lang, has_comment, strict=True)
            ],
            "responded_at": timestamps(merged["when"]),
        }
    )


def _nps(rng: np.random.Generator, company: Company) -> dict[str, np.ndarray]:
    """A quarterly relationship survey of the accounts active at the time."""
    quarters = np.arange(
        company.start.astype("datetime64[M]"), company.as_of.astype("datetime64[M]"), 3
    )
    accounts, whens = [], []
    for q in quarters:
        t = q.astype("datetime64[s]") + 15 * DAY
        active = np.flatnonzero((company.span_start < t) & (company.span_end > t + 10 * DAY))
        count = rng.binomial(np.minimum(company.n_users[active], 20), 0.15)
        acc = np.repeat(active, count)
        accounts.append(acc)
        whens.append(t + (rng.random(len(acc)) * 10 * 86_400).astype("timedelta64[s]"))
    acc, when = np.concatenate(accounts), np.concatenate(whens)
    near_end = company.churned[acc] & ((company.span_end[acc] - when) < 120 * DAY)
    raw = 7.4 + 1.7 * company.health[acc] - 1.5 * near_end + rng.normal(0, 1.3, len(acc))
    score = np.clip(np.round(raw), 0, 10)
    band = np.select([score >= 9, score >= 7], [1, 0], -1)
    return _part(acc, when, "nps", score, band, "quarterly")


def _ces(rng: np.random.Generator, company: Company) -> dict[str, np.ndarray]:
    """How easy onboarding was, asked 30 days after sign-up (1-7, 5-7 is positive)."""
    asked = np.flatnonzero(
        (rng.random(len(company.created)) < 0.4) & (company.created + 30 * DAY < company.as_of)
    )
    when = company.created[asked] + 30 * DAY
    score = np.clip(
        np.round(5.0 + 0.9 * company.health[asked] + rng.normal(0, 1.0, len(asked))), 1, 7
    )
    band = np.select([score >= 5, score == 4], [1, 0], -1)
    return _part(asked, when, "ces", score, band, "onboarding")


def _csat(rng: np.random.Generator, company: Company, tickets: pa.Table) -> dict[str, np.ndarray]:
    """Asked after half of the resolved tickets; first-contact resolution pleases."""
    resolved = np.array(tickets.column("status").to_pylist()) == "resolved"
    asked = resolved & (rng.random(len(resolved)) < 0.5)
    acc = np.array([int(a[1:]) - 1 for a in tickets.column("account_id").to_pylist()])[asked]
    when = (
        tickets.column("resolved_at").to_numpy(zero_copy_only=False)[asked].astype("datetime64[s]")
        + DAY
    )
    first = np.array(tickets.column("contacts").to_pylist())[asked] == 1
    raw = 3.9 + 0.5 * company.health[acc] + 0.5 * first + rng.normal(0, 0.8, len(acc))
    score = np.clip(np.round(raw), 1, 5)
    keep = when < company.as_of
    band = np.select([score >= 4, score == 3], [1, 0], -1)
    return _part(acc[keep], when[keep], "csat", score[keep], band[keep], "support")


def _part(
    acc: np.ndarray,
    when: np.ndarray,
    survey: str,
    score: np.ndarray,
    band: np.ndarray,
    touchpoint: str,
) -> dict[str, np.ndarray]:
    n = len(acc)
    return {
        "account": acc,
        "when": when,
        "survey": np.full(n, survey),
        "score": score.astype(float),
        "band": band,
        "touchpoint": np.full(n, touchpoint),
    }
