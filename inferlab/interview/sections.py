"""The interview's outline (syllabus sections 1-8 and their timings), role tracks and §9 bands."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    number: int
    en: str
    zh: str
    minutes: int            # the outline's own minutes (sum of its sub-sections)
    notebook: str           # course notebook to revisit
    lab: str


SECTIONS = {s.number: s for s in (
    Section(1, "Inference basics", "大模型推理基础理论", 15, "course/01_inference_basics.ipynb", "lab01"),
    Section(2, "FlashAttention", "FlashAttention核心技术", 25, "course/02_flash_attention.ipynb", "lab02"),
    Section(3, "PagedAttention and memory management", "PagedAttention与内存管理", 25,
            "course/03_paged_attention.ipynb", "lab03"),
    Section(4, "Multi-tier KV cache", "KV Cache多级管理与优化", 20, "course/04_kv_cache_tiers.ipynb", "lab04"),
    Section(5, "Cross-node communication", "跨节点传输与通信优化", 20, "course/05_collectives.ipynb", "lab05"),
    Section(6, "Prefill/decode disaggregation", "PD分离与系统架构优化", 15, "course/06_*.ipynb", "lab06"),
    Section(7, "Integration and frontier techniques", "综合应用与前沿技术", 15, "course/07_*.ipynb", "lab07"),
    Section(8, "Practice and problem solving", "实践案例与问题解决", 15, "course/08_*.ipynb", "lab08"),
)}

TRACK_NAMES = {
    "rd": ("R&D", "研发岗位", "technical implementation and system design"),
    "eng": ("Engineering", "工程岗位", "performance optimisation and engineering practice"),
    "research": ("Research", "研究岗位", "frontier techniques and original thinking"),
    "arch": ("Architecture", "架构岗位", "system design and technology choices"),
}

# How much more time (and draw weight) each track gives a section, syllabus §10.3.
TRACK_EMPHASIS = {
    "rd": {3: 1.3, 4: 1.2, 8: 1.2},
    "eng": {1: 1.2, 2: 1.3, 3: 1.2, 8: 1.3},
    "research": {2: 1.3, 7: 1.8, 4: 1.1},
    "arch": {5: 1.4, 6: 1.6, 7: 1.2, 8: 1.4},
}

LEVEL_NAMES = {"new-grad": ("new graduate", "应届生"), "experienced": ("experienced", "有经验")}

CATEGORIES = {
    "knowledge": ("Knowledge", "知识掌握程度", 40),
    "systems": ("Systems thinking", "系统思维能力", 30),
    "practice": ("Practice", "实践应用能力", 20),
    "frontier": ("Frontier awareness", "前沿技术了解", 10),
}

# Syllabus §9: what each band means in each category (English, then the syllabus's own words).
BANDS = {
    "knowledge": {
        "excellent": ("understands the core techniques' principles and implementation in depth; "
                      "analyses their strengths and weaknesses precisely",
                      "深入理解各项核心技术的原理和实现细节，能准确分析技术优缺点"),
        "good": ("has the main concepts and a good grasp of how they are implemented", "基本掌握主要技术概念，对实现原理有较好理解"),
        "fair": ("knows the basic concepts; limited grasp of the deeper principles", "了解基础概念，但对深层原理理解有限"),
        "poor": ("vague concepts; the technical understanding is not accurate", "概念模糊，技术理解不够准确"),
    },
    "systems": {
        "excellent": ("analyses from the system's point of view, weighing how techniques interact and trade off",
                      "能从系统角度分析问题，考虑技术间的协同和权衡"),
        "good": ("some systematic thinking; connects the main techniques", "有一定的系统性思考，能分析主要的技术关联"),
        "fair": ("basic analysis but not systematic", "基本的分析能力，但缺乏系统性考虑"),
        "poor": ("narrow thinking; struggles to analyse systematically", "思路局限，难以进行系统性分析"),
    },
    "practice": {
        "excellent": ("rich practical experience; analyses problems in real scenarios", "有丰富的实践经验，能结合实际场景分析问题"),
        "good": ("some practical experience; applies the theory", "有一定实践经验，能应用理论知识"),
        "fair": ("limited practice; links theory to practice only partly", "实践经验有限，理论联系实际能力一般"),
        "poor": ("no practical experience; cannot apply what was learnt", "缺乏实践经验，难以应用所学知识"),
    },
    "frontier": {
        "excellent": ("deep knowledge of recent developments; discusses trends", "对最新技术发展有深入了解，能讨论发展趋势"),
        "good": ("follows the field; knows the main new techniques", "关注技术发展，了解主要的新技术"),
        "fair": ("basic awareness of frontier techniques", "对前沿技术有基本了解"),
        "poor": ("does not follow new techniques", "缺乏对新技术的关注和了解"),
    },
}

BAND_ORDER = ("excellent", "good", "fair", "poor")


def check_track(track) -> str:
    if track not in TRACK_NAMES:
        raise ValueError(f"track must be one of {', '.join(TRACK_NAMES)}, got {track!r}")
    return track


def section_minutes(track: str, minutes: int) -> dict[int, int]:
    """Minutes per section: the outline's timings, weighted by the track, scaled to `minutes`.

    Whole minutes that add up to `minutes` exactly (largest remainders get the spare ones).
    """
    check_track(track)
    weights = {n: s.minutes * TRACK_EMPHASIS[track].get(n, 1.0) for n, s in SECTIONS.items()}
    total = sum(weights.values())
    raw = {n: minutes * w / total for n, w in weights.items()}
    out = {n: int(v) for n, v in raw.items()}
    for n in sorted(raw, key=lambda n: raw[n] - out[n], reverse=True)[: minutes - sum(out.values())]:
        out[n] += 1
    return out
