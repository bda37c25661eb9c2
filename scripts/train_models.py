"""Train the course models (target and draft) on the course's own corpus.

    .venv/bin/python scripts/train_models.py

Steps, all deterministic (fixed seeds):
1. write the corpus: `inferlab/models/data/train.txt` and `val.txt`, generated
   below from hand-written sentences about LLM inference, short stories and
   User/Assistant chats (documents separated by a blank line);
2. learn the byte-level BPE (`data/tokenizer.json`);
3. train the target, then the draft, on the same token stream (AdamW, warm-up
   then cosine decay, windows of 512 tokens);
4. write `weights/{target,draft}.pt` (float16 state dicts) and `.json` configs,
   then print losses and the draft's greedy agreement with the target on val.txt.

Numbers from the run that produced the shipped weights (torch.set_num_threads(2),
pinned to 2 cores of an otherwise idle Intel Xeon; a quiet run here measured the
same 0.32 s per target step, so expect about 7 minutes, more on a busy machine):

    corpus: 600,306 chars -> 268,397 train tokens, 13,860 val tokens (2.24 chars/token, vocab 512)
    target: 869,504 params, 1000 steps of 8 x 512 tokens, 330 s, train loss 0.126, val loss 0.194
    draft:  158,016 params,  600 steps of 8 x 512 tokens,  51 s, train loss 0.239, val loss 0.271
    draft/target greedy agreement on val.txt: 0.928
    total time 391 s (6 min 39 s with Python start-up)
    target, greedy from "The KV cache": " stores the keys and values of every token the
    model has already seen. A good engine treats the KV cache as its most precious
    memory and plans every step around it."

The losses are low because the corpus is generated from a fixed bank of
sentences: the models learn its facts, chat format and story shapes well, but
not arithmetic (they answer "What is 7 plus 5?" with a wrong, well-formed sum).
"""
from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inferlab.models import greedy_reference, load  # noqa: E402
from inferlab.models.llama import Llama, LlamaConfig, init_weights  # noqa: E402
from inferlab.models.tokenizer import Tokenizer, train_bpe  # noqa: E402

DATA_DIR = ROOT / "inferlab" / "models" / "data"
WEIGHTS_DIR = ROOT / "inferlab" / "models" / "weights"
NUM_MERGES = 256  # vocab_size = 256 byte tokens + 256 merges = 512

# ---------------------------------------------------------------------------
# 1. The corpus
# ---------------------------------------------------------------------------

ALT = re.compile(r"\{([^{}]*\|[^{}]*)\}")


def expand(rng: random.Random, template: str) -> str:
    """Fill each {a|b|c} alternation with one random choice ({name} slots are left for .format)."""
    return ALT.sub(lambda m: rng.choice(m.group(1).split("|")), template)


# Facts: one topic per key; the first sentence of each list opens a paragraph about it.
TOPICS = {
    "kv cache": [
        "The KV cache {stores|keeps|holds} the keys and values of every token the model has already seen.",
        "With a KV cache, each decode step only computes the keys and values of the newest token.",
        "Without a KV cache, the model would recompute the whole prompt at every step, and generation would get slower as the text grows.",
        "The KV cache grows {linearly|in a straight line} with the sequence length, the number of layers and the number of key and value heads.",
        "For a model with {L} layers, {Hkv} key and value heads and a head dimension of {D}, every token needs {kvb} bytes of cache in half precision.",
        "A long conversation can fill the KV cache {faster than|before} the weights {even|} become the main cost of memory.",
        "Grouped-query attention makes the KV cache smaller, because several query heads share one key and value head.",
        "When the KV cache is full, the server has to {pause|preempt} a request or move some of its blocks to slower memory.",
        "The keys in the KV cache are stored after the rotary embedding, so they never have to be rotated again.",
        "Reading the whole KV cache at every step is the reason decoding is limited by memory bandwidth.",
        "A good engine treats the KV cache as its most precious memory and plans every step around it.",
        "The cache for one request is freed as soon as the request finishes, and the blocks go back to the pool.",
    ],
    "attention": [
        "Attention lets every token look back at the tokens before it and mix their values.",
        "Each query is compared with every key, the scores are scaled by one over the square root of the head dimension, and a softmax turns them into weights.",
        "A causal mask hides the future, so a token can only attend to itself and the tokens before it.",
        "The cost of attention grows with the square of the sequence length during prefill.",
        "During decoding, a single query attends to all the cached keys, which is a matrix vector product.",
        "FlashAttention {computes|evaluates} attention in tiles, so the full score matrix is never written to memory.",
        "The trick behind FlashAttention is the online softmax, which keeps a running maximum and a running sum.",
        "Two partial results of attention can be merged exactly if each one keeps its log-sum-exp.",
        "Subtracting the maximum before taking the exponential keeps the softmax stable even for very large scores.",
        "Multi-head attention splits the hidden vector into heads that each learn to look for something different.",
        "In grouped-query attention, {two|four|eight} query heads can share the same key and value head.",
        "A row where every key is masked should give zeros, not a division by zero.",
    ],
    "prefill and decode": [
        "Generation has two phases: prefill, which reads the whole prompt at once, and decode, which produces one token at a time.",
        "Prefill is limited by compute, because it multiplies large matrices for many tokens together.",
        "Decode is limited by memory bandwidth, because every step reads all the weights to produce a single token.",
        "The time to first token is mostly the time spent in prefill.",
        "A long prompt of {N} tokens can take longer to prefill than a hundred steps of decoding.",
        "Chunked prefill splits a long prompt into pieces, so decode steps of other requests do not have to wait.",
        "Some systems run prefill and decode on different GPUs and send the KV cache from one to the other.",
        "Separating prefill from decode lets each side pick the batch size that suits it best.",
        "After prefill, the model already has the logits for the first new token.",
        "The decode loop is simple: feed the newest token, read the cache, pick the next token, and repeat.",
    ],
    "batching": [
        "Batching lets one pass over the weights serve many requests at once.",
        "Continuous batching adds new requests to the running batch as soon as old ones finish, instead of waiting for the whole batch.",
        "The scheduler decides at every step which requests run, which wait, and which are preempted.",
        "A step can only hold {N} batched tokens, so the scheduler has to share that budget between prefill and decode.",
        "Requests are admitted first come, first served, as long as there are enough free blocks for them.",
        "When memory runs out, the newest request is preempted, its blocks are freed, and it is recomputed later.",
        "Static batching wastes time, because short requests sit idle until the longest one is done.",
        "A larger batch raises throughput, but each request may wait a little longer for its tokens.",
        "Good schedulers keep the GPU busy without letting any single request starve.",
        "The scheduler plans a step, the model runs it, and the results are written back before the next step begins.",
    ],
    "paged attention": [
        "PagedAttention stores the KV cache in fixed-size blocks, like pages of virtual memory.",
        "A block table maps each position of a sequence to a block and a slot inside that block.",
        "With blocks of {bs} tokens, a sequence of {N} tokens needs {nb} blocks.",
        "Paging removes most of the waste that comes from reserving memory for the longest possible sequence.",
        "Two sequences that share a prompt can point at the same blocks and copy a block only when one of them writes to it.",
        "Copy on write keeps shared blocks safe: the first sequence that changes a shared block gets its own copy.",
        "A reference count tells the allocator how many sequences still use a block.",
        "The block allocator keeps a list of free blocks, so taking one or giving one back is cheap.",
        "The attention kernel follows the block table to find the keys and values of each sequence.",
        "Only the last block of a sequence is partly empty, so the waste is less than one block per sequence.",
    ],
    "speculative decoding": [
        "Speculative decoding uses a small draft model to guess several tokens, and the large target model checks them all in one pass.",
        "If the draft guesses well, the target model produces several tokens for the cost of one forward pass.",
        "Each draft token is accepted with a probability equal to the ratio of the target and draft probabilities, capped at one.",
        "At the first rejected token, a new token is sampled from the difference between the two distributions, and the rest of the draft is thrown away.",
        "The accepted tokens follow exactly the same distribution as the target model, so quality does not change.",
        "With greedy decoding, a draft token is accepted when it matches the target's top choice.",
        "The speedup depends on how often the draft agrees with the target and how cheap the draft is.",
        "If the acceptance rate is {alpha} and the draft proposes {k} tokens, the expected number of tokens per target pass is about {exp}.",
        "A draft model that is too large wastes the time it was supposed to save.",
        "The target model verifies the draft tokens with a single forward pass over all of them.",
    ],
    "quantization": [
        "Quantization stores weights or cached values with fewer bits, for example eight bits instead of sixteen.",
        "Symmetric quantization divides each value by a scale, rounds it, and keeps it between minus 127 and 127.",
        "The scale is usually the largest absolute value divided by 127.",
        "Storing the KV cache in eight bits halves its size and lets the server keep twice as many tokens.",
        "Quantization trades a little accuracy for a lot of memory and bandwidth.",
        "Outliers make quantization harder, because one large value forces a large scale on all the others.",
        "Per-channel scales follow the data more closely than one scale for the whole tensor.",
        "Dequantizing multiplies the stored integers by the scale to get the values back.",
    ],
    "gpu": [
        "A GPU has thousands of small cores and a memory system built for bandwidth.",
        "An H100 can move about three terabytes per second from its memory, but it can do far more arithmetic than that bandwidth can feed.",
        "The roofline model says a kernel is limited by compute or by memory, whichever takes longer.",
        "Arithmetic intensity is the number of floating point operations for each byte moved.",
        "A kernel with low arithmetic intensity is memory bound, and making its math faster will not help.",
        "Multiplying an {m} by {k} matrix by a {k} by {n} matrix takes {flops} floating point operations.",
        "Shared memory on the GPU is small but very fast, so kernels load tiles into it and reuse them.",
        "A Triton kernel is written in Python and compiled into code for the GPU.",
        "Launching many tiny kernels wastes time, so engines fuse small operations together.",
        "CUDA graphs record a sequence of kernel launches once and replay it with almost no overhead.",
        "Timing a GPU kernel needs a warm-up run and a synchronization, or the clock measures the wrong thing.",
        "Memory on the GPU is shared by the weights, the activations and the KV cache.",
    ],
    "parallelism": [
        "Tensor parallelism splits each weight matrix across GPUs, so every GPU does part of every layer.",
        "Pipeline parallelism gives each GPU a group of layers and passes activations from one to the next.",
        "An all-reduce adds up a tensor across all GPUs and gives everyone the result.",
        "The ring all-reduce sends each piece of data around a ring of GPUs, so no single link becomes a bottleneck.",
        "In a ring of {p} GPUs, each one sends about {frac} of the data twice, once to reduce and once to gather.",
        "A pipeline has a bubble at the start and the end, when some stages have nothing to do.",
        "More micro-batches make the pipeline bubble smaller.",
        "The MLP can be split by columns in the first matrix and by rows in the second, so it needs only one all-reduce.",
        "Communication between GPUs is fast over NVLink, but it is still much slower than reading local memory.",
    ],
    "serving metrics": [
        "Time to first token measures how long a user waits before the answer starts.",
        "Time per output token measures how fast the rest of the answer arrives.",
        "Throughput counts how many tokens the whole system produces each second.",
        "Goodput counts only the requests that met their latency targets.",
        "A server that reports a median latency of {ms} milliseconds may still have a slow tail at the ninety-ninth percentile.",
        "Benchmarks should report percentiles, not only averages, because users notice the slow requests.",
        "Raising the batch size often improves throughput while making time per output token a little worse.",
        "A fair benchmark runs a warm-up, repeats the measurement, and reports the median.",
    ],
    "sampling": [
        "Greedy decoding always picks the token with the highest probability.",
        "Temperature divides the logits before the softmax: a low temperature makes the model more certain, a high one more random.",
        "Top-k sampling keeps only the {k} most likely tokens and samples among them.",
        "Top-p sampling keeps the smallest set of tokens whose probabilities add up to at least p.",
        "With a fixed seed, sampling gives the same tokens every time it runs.",
        "Greedy decoding is easy to test, because the same prompt always gives the same answer.",
        "Sampling with a temperature of zero is the same as greedy decoding.",
    ],
    "tokenizer": [
        "A tokenizer turns text into a list of integers that the model can read.",
        "Byte pair encoding starts from single bytes and repeatedly merges the most common pair into a new token.",
        "Common words become single tokens, while rare words are split into several pieces.",
        "Working on bytes means every string can be encoded, including emoji and letters from any language.",
        "Decoding the tokens of a string gives back exactly the same string.",
        "The vocabulary of this course model has {V} tokens.",
    ],
    "prefix caching": [
        "Prefix caching reuses the KV cache of a prompt that the server has seen before.",
        "Many chats start with the same system prompt, so their first blocks can be shared.",
        "Each full block is named by a hash of its tokens and of every block before it.",
        "A prefix hit skips the prefill of the shared blocks and makes the first token arrive sooner.",
        "When GPU memory is full, cold blocks can move to CPU memory or even to disk instead of being thrown away.",
        "An eviction policy such as least recently used decides which block leaves the fast tier first.",
        "A block read back from disk must pass a checksum before it is trusted.",
        "A tiered cache keeps hot blocks on the GPU, warm blocks in CPU memory and cold blocks on disk.",
    ],
}

# Questions a user asks about each topic (chat documents).
QUESTIONS = {
    "kv cache": ["What is the KV cache?", "Why do we need a KV cache?", "How big is the KV cache?",
                 "What happens when the KV cache is full?", "Can you explain the KV cache in simple words?"],
    "attention": ["How does attention work?", "What is FlashAttention?", "Why is the softmax scaled?",
                  "What does the causal mask do?", "What is grouped-query attention?"],
    "prefill and decode": ["What is the difference between prefill and decode?", "Why is decoding slow?",
                           "What is chunked prefill?", "Why is the first token slow?"],
    "batching": ["What is continuous batching?", "What does the scheduler do?", "Why batch requests at all?",
                 "What happens when a request is preempted?"],
    "paged attention": ["What is PagedAttention?", "What is a block table?", "How does copy on write work for the KV cache?",
                        "Why split the cache into blocks?"],
    "speculative decoding": ["What is speculative decoding?", "How does the target model check the draft?",
                             "When does speculative decoding help?", "Does speculative decoding change the output?"],
    "quantization": ["What is quantization?", "How does int8 quantization work?", "Why quantize the KV cache?"],
    "gpu": ["Why is decoding memory bound?", "What is the roofline model?", "What is arithmetic intensity?",
            "How should I time a GPU kernel?"],
    "parallelism": ["What is tensor parallelism?", "How does a ring all-reduce work?", "What is the pipeline bubble?"],
    "serving metrics": ["What is time to first token?", "What is goodput?", "How should I benchmark a server?"],
    "sampling": ["What is top-p sampling?", "What does temperature do?", "What is greedy decoding?"],
    "tokenizer": ["What does a tokenizer do?", "How does byte pair encoding work?"],
    "prefix caching": ["What is prefix caching?", "Where do evicted blocks go?", "How are cached blocks found again?"],
}

# Story characters: (name, description, subject pronoun, object pronoun, possessive).
CHARACTERS = [
    ("Mia", "a little girl", "she", "her", "her"), ("Leo", "a curious boy", "he", "him", "his"),
    ("Pip", "a small fox", "he", "him", "his"), ("Bolt", "a tiny robot", "it", "it", "its"),
    ("Nora", "a brave mouse", "she", "her", "her"), ("Kai", "a young sailor", "he", "him", "his"),
    ("Lily", "a clever cat", "she", "her", "her"), ("Omar", "an old baker", "he", "him", "his"),
    ("Zoe", "a quiet owl", "she", "her", "her"), ("Theo", "a friendly dog", "he", "him", "his"),
    ("Rosa", "a kind teacher", "she", "her", "her"), ("Finn", "a little turtle", "he", "him", "his"),
    ("Ivy", "a busy bee", "she", "her", "her"), ("Ravi", "a young engineer", "he", "him", "his"),
    ("Maya", "a clever girl", "she", "her", "her"), ("Ben", "a sleepy bear", "he", "him", "his"),
    ("Ada", "a small server", "she", "her", "her"),
    ("Tom", "a handy boy", "he", "him", "his"),
]
PLACES = ["near a quiet river", "in a busy city", "at the edge of a green forest", "on a small island",
          "in a house by the sea", "in a little village on a hill", "next to a noisy train station",
          "in a warm room full of humming machines", "under a tall oak tree", "in a garden full of flowers"]
LIKES = ["to play in the sun", "to read old books", "to count the stars", "to build things out of boxes",
         "to sing songs in the morning", "to watch the boats", "to solve puzzles", "to bake bread",
         "to help other people", "to answer questions"]
OBJECTS = ["a red kite", "a shiny key", "an old map", "a blue ball", "a wooden box", "a small lantern",
           "a golden coin", "a paper boat", "a green hat", "a box of tiny gears"]
SPOTS = ["under the bed", "behind the door", "in the tall grass", "on the kitchen table", "near the river",
         "inside an old shoe", "at the top of the stairs", "under a pile of leaves"]
FEELINGS = ["happy", "sad", "worried", "excited", "tired", "surprised", "proud", "scared"]
GOALS = ["to climb the big hill", "to learn to swim", "to bake a perfect cake", "to fly a kite",
         "to read a whole book", "to build a tall tower", "to answer every question in one second",
         "to remember every word"]
ENDINGS = [
    "From that day on, {name} and {friend} were the best of friends.",
    "{Name} smiled. It had been a good day.",
    "And that is how {name} learned that {lesson}.",
    "That night, {name} slept well, dreaming of new adventures.",
    "{Name} never forgot that day.",
]
LESSONS = ["asking for help is not a weakness", "small steps add up to big things", "it is good to share",
           "patience pays off", "a good friend is worth more than gold", "every problem has a solution"]


def cap(text: str) -> str:
    return text[0].upper() + text[1:]


def story(rng: random.Random) -> str:
    """A short children's story."""
    name, desc, he, him, his = rng.choice(CHARACTERS)
    friend = rng.choice([c for c in CHARACTERS if c[0] != name])
    fname, fdesc, fhe = friend[0], friend[1], friend[2]
    opening = rng.choice([
        f"Once upon a time, there was {desc} named {name}.",
        f"Long ago, {desc} named {name} lived {rng.choice(PLACES)}.",
        f"There once was {desc} called {name}.",
        f"{name} was {desc}.",
    ])
    lines = [opening]
    if "lived" not in opening:
        lines.append(f"{cap(he)} lived {rng.choice(PLACES)}.")
    lines.append(f"{cap(he)} {rng.choice(['loved', 'liked', 'always wanted'])} {rng.choice(LIKES)}.")
    plot = rng.randrange(4)
    if plot == 0:  # a lost object
        obj, spot = rng.choice(OBJECTS), rng.choice(SPOTS)
        lines += [
            f"One day, {name} could not find {his} {obj.split(' ', 1)[1]}.",
            f"{cap(he)} looked {rng.choice(SPOTS)}, and then {rng.choice(SPOTS)}, but it was not there.",
            f"{name} felt {rng.choice(['sad', 'worried'])}.",
            f'"Can I help you?" asked {fname}, {fdesc}.',
            f'"I lost my {obj.split(" ", 1)[1]}," said {name}.',
            f"They looked together, and at last {fname} found it {spot}.",
            f'"Thank you!" said {name}, and {he} felt {rng.choice(["happy", "proud", "very happy"])} again.',
        ]
    elif plot == 1:  # a goal that takes practice
        goal = rng.choice(GOALS)
        lines += [
            f"{cap(his)} biggest wish was {goal}.",
            f"The first time {he} tried, it was too hard, and {he} felt {rng.choice(['sad', 'tired'])}.",
            f"{fname} said, \"Try again tomorrow, and a little more each day.\"",
            f"So {name} practiced every morning and every evening.",
            f"Day by day, it got a little easier.",
            f"After {rng.choice(['a week', 'two weeks', 'a month', 'many days'])}, {name} finally managed {goal}.",
            f"{cap(he)} was so {rng.choice(['proud', 'happy', 'excited'])} that {he} told everyone {he} met.",
        ]
    elif plot == 2:  # a friend in trouble
        lines += [
            f"One {rng.choice(['morning', 'evening', 'rainy day', 'cold night'])}, {name} met {fname}, who looked {rng.choice(['sad', 'worried', 'scared'])}.",
            f'"What is wrong?" asked {name}.',
            f'"{rng.choice(["My house is too far away", "I am lost", "I dropped my lantern in the river", "The storm broke my little boat"])}," said {fname}.',
            f"{name} thought for a moment.",
            f'"Do not worry," said {name}. "I will help you."',
            f"Together they {rng.choice(['walked all the way home', 'found the right path', 'built a new one', 'waited until the storm was over'])}.",
            f"{fname} was {rng.choice(['very happy', 'grateful', 'so glad'])}, and {fhe} gave {name} {rng.choice(OBJECTS)} as a thank you.",
        ]
    else:  # a busy day of answering questions (the course's own fairy tale)
        n = rng.choice([3, 5, 8, 12, 20])
        lines += [
            f"Every day, people sent {name} questions, and {he} answered them one word at a time.",
            f"One morning, {n} questions arrived at once.",
            f"{name} did not panic. {cap(he)} put them all in one batch and answered them together.",
            f"To go faster, {he} kept a little notebook of everything {he} had already read, so {he} never had to read it twice.",
            f"When the notebook was full, {he} {rng.choice(['tore out the oldest pages', 'moved some pages to a box under the desk', 'asked a friend to hold a few pages'])}.",
            f"By the evening, every question had an answer, and {name} felt {rng.choice(['tired but proud', 'happy', 'proud'])}.",
        ]
    ending = rng.choice(ENDINGS)
    lines.append(ending.format(name=name, Name=name, friend=fname, lesson=rng.choice(LESSONS)))
    return " ".join(lines)


def slots(rng: random.Random) -> dict:
    """Numbers for the {slot}s in the facts, each consistent with the others."""
    L, Hkv, D = rng.choice([2, 4, 8, 16, 32]), rng.choice([1, 2, 4, 8]), rng.choice([32, 64, 128])
    bs, N = rng.choice([8, 16, 32]), rng.choice([100, 128, 200, 256, 500, 1000, 2048])
    alpha, k = rng.choice([0.5, 0.6, 0.7, 0.8, 0.9]), rng.choice([2, 3, 4, 5])
    m, kk, n = rng.choice([64, 128, 256, 512]), rng.choice([64, 128, 256]), rng.choice([16, 32, 64, 128])
    p = rng.choice([2, 4, 8])
    return dict(L=L, Hkv=Hkv, D=D, kvb=2 * L * Hkv * D * 2, bs=bs, N=N, nb=-(-N // bs), alpha=alpha, k=k,
                exp=f"{(1 - alpha ** (k + 1)) / (1 - alpha):.2f}", m=m, n=n, flops=2 * m * n * kk,
                p=p, frac=f"{p - 1}/{p}", ms=rng.choice([20, 35, 50, 80, 120]), V=256 + NUM_MERGES)


LOWER_OK = {"The", "A", "An", "Each", "Every", "With", "Without", "When", "In", "If", "After", "Only",
            "Many", "More", "Some", "Two", "Decode", "Prefill", "Batching", "Paging", "Quantization",
            "Sampling", "Greedy", "Storing", "Reading", "Subtracting", "Multiplying", "Raising", "Launching",
            "Timing", "Memory", "Communication", "Working", "Decoding", "Attention", "Throughput", "Goodput",
            "Separating", "Common", "Outliers", "Shared", "Static", "Good", "Requests", "Copy"}
CONNECTORS = ["In practice, ", "Note that ", "Remember that ", "Also, "]


def fact(rng: random.Random, template: str, values: dict, connect: bool) -> str:
    text = expand(rng, template).format(**values)
    text = re.sub(r"  +", " ", text)
    first = text.split(" ", 1)[0]
    if connect and first in LOWER_OK:
        text = rng.choice(CONNECTORS) + text[0].lower() + text[1:]
    return text


def paragraph(rng: random.Random, topic: str, max_facts: int = 5) -> str:
    """A few facts about one topic, usually opening with its definition."""
    facts = TOPICS[topic]
    values = slots(rng)
    rest = rng.sample(facts[1:], min(len(facts) - 1, rng.randint(2, max_facts)))
    chosen = ([facts[0]] if rng.random() < 0.7 else []) + rest
    return " ".join(fact(rng, t, values, connect=i > 0 and rng.random() < 0.25) for i, t in enumerate(chosen))


def notes(rng: random.Random) -> str:
    """Course notes: an optional heading and one or two paragraphs."""
    topic = rng.choice(list(TOPICS))
    parts = []
    if rng.random() < 0.4:
        parts.append(rng.choice(["Lesson {n}: {t}", "Notes on {t}", "{T}", "Chapter {n}. {T}"]).format(
            n=rng.randint(1, 10), t=topic, T=cap(topic)))
    parts.append(paragraph(rng, topic))
    if rng.random() < 0.3:
        parts.append(paragraph(rng, rng.choice(list(TOPICS)), max_facts=3))
    return "\n".join(parts)


GREETINGS = [("Hello!", "Hello! How can I help you today?"), ("Hi there.", "Hi! What would you like to know?"),
             ("Good morning!", "Good morning! What can I do for you?"),
             ("Hey, are you there?", "Yes, I am here. How can I help?")]
THANKS = [("Thank you!", "You are welcome. Is there anything else you would like to know?"),
          ("Thanks, that helps.", "I am glad it helps. Feel free to ask more."),
          ("Great, thanks.", "You are welcome!"), ("Got it.", "Good. Let me know if you have more questions.")]
FOLLOW_UPS = ["Can you say more?", "Why is that?", "Can you give an example?", "What else should I know?",
              "And how does that help in practice?"]


def answer(rng: random.Random, topic: str) -> str:
    opener = rng.choice(["", "", "Good question. ", "Sure. ", "In short: "])
    return opener + paragraph(rng, topic, max_facts=3)


def arithmetic(rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(4)
    if kind == 0:
        a, b = rng.randint(1, 50), rng.randint(1, 50)
        return f"What is {a} plus {b}?", f"{a} plus {b} is {a + b}."
    if kind == 1:
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        return f"What is {a} times {b}?", f"{a} times {b} is {a * b}."
    v = slots(rng)
    if kind == 2:
        return (f"How many blocks of {v['bs']} tokens does a sequence of {v['N']} tokens need?",
                f"It needs {v['nb']} blocks, because {v['N']} divided by {v['bs']}, rounded up, is {v['nb']}.")
    return (f"How many bytes of KV cache does one token take with {v['L']} layers, {v['Hkv']} KV heads "
            f"and a head dimension of {v['D']}, in half precision?",
            f"It takes 2 times {v['L']} times {v['Hkv']} times {v['D']} times 2 bytes, which is {v['kvb']} bytes.")


def chat(rng: random.Random) -> str:
    """A multi-turn User/Assistant conversation."""
    turns = []
    if rng.random() < 0.3:
        turns.append(rng.choice(GREETINGS))
    topic = rng.choice(list(TOPICS))
    for i in range(rng.randint(1, 3)):
        r = rng.random()
        if r < 0.6:
            if i > 0 and rng.random() < 0.5:
                turns.append((rng.choice(FOLLOW_UPS), answer(rng, topic)))
            else:
                topic = rng.choice(list(TOPICS))
                turns.append((rng.choice(QUESTIONS[topic]), answer(rng, topic)))
        elif r < 0.8:
            turns.append(arithmetic(rng))
        else:
            turns.append((rng.choice(["Can you tell me a short story?", "Tell me a story, please.",
                                      "I need a bedtime story."]), "Sure. " + story(rng)))
    if rng.random() < 0.5:
        turns.append(rng.choice(THANKS))
    return "\n".join(f"User: {q}\nAssistant: {a}" for q, a in turns)


def server_log(rng: random.Random) -> str:
    """A few scheduler steps, numbers consistent from line to line."""
    running, waiting, free = rng.randint(1, 8), rng.randint(0, 6), rng.choice([32, 64, 128, 256])
    lines = [f"Scheduler log, {free} blocks in total."]
    for step in range(1, rng.randint(3, 7)):
        admitted = min(waiting, rng.randint(0, 2))
        finished = rng.randint(0, min(2, running))
        running, waiting = running + admitted - finished, waiting - admitted
        free = max(0, free - rng.randint(1, 4) * running + rng.randint(4, 10) * finished)
        lines.append(f"Step {step}: {admitted} admitted, {finished} finished, {running} running, "
                     f"{waiting} waiting, {free} free blocks.")
    lines.append(rng.choice(["All requests finished.", "The queue is empty.", "No request was preempted.",
                             "One request was preempted and will be recomputed."]))
    return "\n".join(lines)


DOCUMENTS = [(notes, 0.35), (chat, 0.35), (story, 0.24), (server_log, 0.06)]


def make_corpus(seed: int, num_chars: int) -> str:
    """Documents drawn from DOCUMENTS until `num_chars`, separated by blank lines."""
    rng = random.Random(seed)
    kinds, weights = zip(*DOCUMENTS)
    docs, size = [], 0
    while size < num_chars:
        doc = rng.choices(kinds, weights)[0](rng)
        docs.append(doc)
        size += len(doc) + 2
    return "\n\n".join(docs) + "\n"


def write_corpus() -> tuple[str, str]:
    """Generate train.txt (about 600 KB) and val.txt (held out: another seed) into DATA_DIR."""
    train, val = make_corpus(seed=1, num_chars=600_000), make_corpus(seed=2, num_chars=30_000)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    (DATA_DIR / "train.txt").write_text(train)
    (DATA_DIR / "val.txt").write_text(val)
    return train, val


# ---------------------------------------------------------------------------
# 2-3. Training
# ---------------------------------------------------------------------------
TARGET = LlamaConfig(num_layers=4, num_heads=4, num_kv_heads=2, head_dim=32, vocab_size=256 + NUM_MERGES,
                     max_seq_len=512, hidden_size=128, mlp_hidden_size=352)
DRAFT = LlamaConfig(num_layers=2, num_heads=2, num_kv_heads=1, head_dim=32, vocab_size=256 + NUM_MERGES,
                    max_seq_len=512, hidden_size=64, mlp_hidden_size=176)


def lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def batch(tokens: torch.Tensor, gen: torch.Generator, batch_size: int, seq_len: int, device: str):
    """Random windows: inputs (B, T) and next-token targets (B, T)."""
    starts = torch.randint(0, len(tokens) - seq_len - 1, (batch_size,), generator=gen)
    rows = torch.stack([tokens[s: s + seq_len + 1] for s in starts.tolist()])  # (B, T + 1)
    return rows[:, :-1].to(device), rows[:, 1:].to(device)


def train(config: LlamaConfig, tokens: torch.Tensor, *, steps: int, lr: float, seed: int, device: str,
          batch_size: int = 8, seq_len: int = 512) -> tuple[Llama, float]:
    """AdamW on next-token cross-entropy; returns (model, mean loss of the last 20 steps)."""
    torch.manual_seed(seed)
    model = Llama(config)
    init_weights(model, seed)
    model.to(device).train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(seed)
    recent, start = [], time.time()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr, warmup=max(1, steps // 20))
        x, y = batch(tokens, gen, batch_size, seq_len, device)
        logits = model(x)  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        recent = (recent + [loss.item()])[-20:]
        if step % 100 == 0 or step == steps - 1:
            print(f"  step {step:5d}  loss {loss.item():.3f}  {time.time() - start:6.1f}s", flush=True)
    model.eval().requires_grad_(False)
    return model, sum(recent) / len(recent)


def save(model: Llama, name: str) -> None:
    """weights/{name}.pt (float16 state dict) and weights/{name}.json (config)."""
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().to("cpu", torch.float16).contiguous() for key, value in model.state_dict().items()}
    torch.save(state, WEIGHTS_DIR / f"{name}.pt")
    (WEIGHTS_DIR / f"{name}.json").write_text(json.dumps(model.config.to_dict(), indent=2) + "\n")


# ---------------------------------------------------------------------------
# 4. Evaluation (on the shipped float16 weights, loaded back as the labs see them)
# ---------------------------------------------------------------------------
@torch.no_grad()
def evaluate(target: Llama, draft: Llama, tokens: torch.Tensor, seq_len: int = 512) -> dict:
    """Mean val cross-entropy of each model and the fraction of positions where their argmaxes agree."""
    n = (len(tokens) - 1) // seq_len
    x = tokens[: n * seq_len].view(n, seq_len)  # (N, T)
    y = tokens[1: n * seq_len + 1].view(n, seq_len)  # (N, T)
    out = {}
    argmax = {}
    for name, model in (("target", target), ("draft", draft)):
        logits = torch.cat([model(x[i: i + 8]) for i in range(0, n, 8)])  # (N, T, V)
        out[f"{name}_val_loss"] = F.cross_entropy(logits.flatten(0, 1), y.flatten()).item()
        argmax[name] = logits.argmax(-1)
    out["agreement"] = (argmax["target"] == argmax["draft"]).float().mean().item()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target-steps", type=int, default=1000)
    parser.add_argument("--draft-steps", type=int, default=600)
    parser.add_argument("--device", default="cpu", help="cpu for the shipped weights; cuda to experiment")
    parser.add_argument("--no-save", action="store_true", help="train and evaluate without writing weights")
    args = parser.parse_args()
    torch.set_num_threads(2)
    t0 = time.time()

    train_text, val_text = write_corpus()
    tokenizer = Tokenizer(train_bpe(train_text, NUM_MERGES))
    tokenizer.save(DATA_DIR / "tokenizer.json")
    train_ids = torch.tensor(tokenizer.encode(train_text), dtype=torch.long)
    val_ids = torch.tensor(tokenizer.encode(val_text), dtype=torch.long)
    print(f"corpus: {len(train_text):,} chars -> {len(train_ids):,} train tokens, {len(val_ids):,} val tokens "
          f"({len(train_text) / len(train_ids):.2f} chars/token, vocab {tokenizer.vocab_size}); "
          f"{time.time() - t0:.0f}s", flush=True)

    print("target:", TARGET)
    target, target_loss = train(TARGET, train_ids, steps=args.target_steps, lr=3e-3, seed=0, device=args.device)
    print("draft:", DRAFT)
    draft, draft_loss = train(DRAFT, train_ids, steps=args.draft_steps, lr=4e-3, seed=1, device=args.device)
    if not args.no_save:
        save(target, "target")
        save(draft, "draft")
        target, draft = load("target"), load("draft")  # read back exactly what ships
    target, draft = target.cpu(), draft.cpu()

    metrics = evaluate(target, draft, val_ids)
    print(f"target: {target.num_parameters():,} params, train loss {target_loss:.3f}, "
          f"val loss {metrics['target_val_loss']:.3f}")
    print(f"draft:  {draft.num_parameters():,} params, train loss {draft_loss:.3f}, "
          f"val loss {metrics['draft_val_loss']:.3f}")
    print(f"draft/target greedy agreement on val.txt: {metrics['agreement']:.3f}")
    for prompt in ("The KV cache", "User: What is speculative decoding?\nAssistant:", "Once upon a time"):
        ids = tokenizer.encode(prompt)
        new = greedy_reference(target, ids, 60)
        print(f"--- target, {prompt!r}:\n{tokenizer.decode(ids + new)}")
    print(f"total time {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
