"""Train the answer reader: does this sentence answer the question, and which words do?

    python training/train_reader.py train [--data DIR] [--out DIR] [--questions N] [--work DIR]
    python training/train_reader.py curve [--data DIR] [--work DIR] [--sample N]
    python training/train_reader.py evaluate [--data DIR] [--model DIR] [--split odd|tune]

The reader is the bundled all-MiniLM-L6-v2 encoder (a 6-layer BERT) with two heads: one
logit on the pooled [CLS] token ("this sentence answers the question") and start/end logits
on every token (the short answer inside the sentence). Its input is

    [CLS] question [SEP] title | previous sentence [SEP] sentence [SEP]

so that "he" or "it" in the sentence can be read against what came before it.

Training data (CC BY-SA 4.0), read from ``--data``, ``$CHALLENGE_QA_BENCH_DATA`` or
``../shared/benchmarks`` (``challenge_qa.eval.data``), never copied into the project:
``--questions`` questions drawn (seeded) from SQuAD v1.1 train, and the unanswerable SQuAD
v2.0 questions of the even dev articles except TUNE_ARTICLES. No
question of SQuAD v1.1 dev is trained on: TUNE_ARTICLES (even) are kept for the answer
settings, the calibration and the threshold, and the odd articles for every reported figure.

For each training question: the sentence holding its answer is the positive (with the
answer as the span target); negatives are the other sentence of its paragraph that BM25
ranks highest for the question, the best BM25 sentence of another paragraph of the
article, and the question with one of the words it shares with its answer sentence swapped
for another word of the article (``perturb``: "Who is the head of Universal?" -> "Who is the
head of Roscosmos?", asked of the Universal sentence), so that it learns that a sentence
about the right people need not answer. An unanswerable v2.0 question (written to look
answerable from its paragraph) is asked of the two sentences of its paragraph that BM25
ranks highest, both negatives. Sentences holding a gold answer's text are never negatives.
The loss is binary cross-entropy on each sentence (the probability that it answers), plus
a listwise term over each question's sentences (the right one must outscore the others),
plus the span loss.

A run checkpoints to ``--work`` (outside git) every ``--save-every`` steps and resumes
from there when started again with the same recipe; each checkpoint's weights stay for
``curve``, which scores them on held-out questions against the questions seen so far.
``train`` writes ``reader_int8.onnx`` (ONNX Runtime, int8 weights), the tokenizer, and
``reader.json`` (version, recipe, hash) to ``--out``; ``evaluate`` adds the held-out
figures (odd articles, through ``challenge_qa.encoders.reader``, i.e. the shipped int8 file) to
``reader.json``. Deterministic: seeded sampling and shuffling, one thread order.

The shipped reader (reader-3: ``train`` with the default 18,000 questions, one pass, as
``make train-reader`` runs it) took 71 min on 2 CPU cores; ``train`` records the time in
``reader.json`` (``train_minutes``: 71.1).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from challenge_qa.encoders.reader import (  # noqa: E402
    MAX_PREV_CHARS,
    MAX_SENTENCE_CHARS,
    READER_DIR,
    pair_text,
)
from challenge_qa.eval.data import (  # noqa: E402
    SEED,
    SQUAD_TRAIN,
    SQUAD_V2_EVEN,
    DataNotFoundError,
    is_held_out,
    split_articles,
    squad_path,
)
from challenge_qa.eval.metrics import roc_auc  # noqa: E402
from challenge_qa.eval.squad import best_over_gold, exact_match, f1_score  # noqa: E402
from challenge_qa.text.chunking import split_sentences  # noqa: E402

#: Even articles kept out of training: the answer settings and threshold are tuned on them.
TUNE_ARTICLES = (10, 22, 34, 46)
MAX_LEN = 192
VERSION = "reader-4"
#: Article numbers of the v2.0 file start here, after those of the train file.
V2_BASE = 1000


@dataclass
class Sent:
    article: int
    para: int
    start: int
    end: int
    text: str
    prev: str
    title: str


def load(path: Path, base: int = 0, sents: list[Sent] | None = None,
         para_sents: dict[tuple[int, int], list[int]] | None = None):
    """Articles as lists of paragraphs; every paragraph's sentences; questions. Article
    numbers start at ``base``; with ``sents`` and ``para_sents`` given, the file's
    sentences are added to them (several files in one namespace)."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    sents = [] if sents is None else sents
    para_sents = {} if para_sents is None else para_sents
    questions = []
    for a, art in enumerate(data, start=base):
        title = art["title"].replace("_", " ")
        for p, para in enumerate(art["paragraphs"]):
            ctx = para["context"]
            ids = []
            prev = ""
            for s, e in split_sentences(ctx):
                ids.append(len(sents))
                sents.append(Sent(a, p, s, e, ctx[s:e], prev, title))
                prev = ctx[s:e]
            para_sents[(a, p)] = ids
            for qa in para["qas"]:
                questions.append({"id": qa["id"], "q": qa["question"], "article": a,
                                  "para": p, "answers": qa["answers"],
                                  "dev_index": art.get("v11_dev_index")})
    return data, sents, para_sents, questions


def split_of(article: int) -> str:
    if is_held_out(article):
        return "odd"
    return "tune" if article in TUNE_ARTICLES else "train"


def norm(s: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", s.lower()).split())


def positives(q: dict, ids: list[int], sents: list[Sent]) -> dict[int, tuple[int, int] | None]:
    """Sentence id -> (start, end) of a gold answer inside it (char offsets into the
    sentence), or None when a gold answer starts there but runs past its end."""
    out: dict[int, tuple[int, int] | None] = {}
    for ans in q["answers"]:
        a0 = ans["answer_start"]
        a1 = a0 + len(ans["text"])
        for i in ids:
            s = sents[i]
            if s.start <= a0 < s.end:
                span = (a0 - s.start, a1 - s.start) if a1 <= s.end else None
                if out.get(i) is None:
                    out[i] = span
    return out


_WORD = re.compile(r"[A-Za-z][\w'-]*|\d[\d,.]*")
_WH = {"what", "which", "who", "whom", "whose", "when", "where", "why", "how"}


def _stop() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS) | _WH


def _kind(word: str) -> str:
    """What a word may be swapped with: numbers with numbers of as many digits, names with
    names, other words with words of the same ending (-ing, -ed, -ly, -s), so that the
    swapped question still reads as a question."""
    if word[0].isdigit():
        return f"num{sum(c.isdigit() for c in word)}"
    if word[0].isupper():
        return "name"
    for end in ("ing", "ed", "ly", "s"):
        if word.endswith(end):
            return f"word-{end}"
    return "word"


def swap_pools(sents, keep) -> dict[tuple[int, str], list[str]]:
    """(article, kind) -> the content words of the sentences of the articles ``keep``
    accepts, for ``perturb``."""
    stop = _stop()
    pools: dict[tuple[int, str], set[str]] = {}
    for s in sents:
        if not keep(s.article):
            continue
        for m in _WORD.finditer(s.text):
            w = m.group()
            if len(w) < 4 or w.lower() in stop or "'" in w or (
                    w[0].isupper() and s.text[:m.start()].rstrip()[-1:] in ("", ".", '"')):
                continue  # a capital that only starts a sentence is no name
            pools.setdefault((s.article, _kind(w)), set()).add(w)
    return {k: sorted(v) for k, v in pools.items()}


def perturb(question: str, sentence: str, paragraph: str, article: int,
            pools: dict[tuple[int, str], list[str]], rng: random.Random) -> str | None:
    """The question with one of the words it shares with its answer sentence (a name, a
    number or another content word) replaced by a word of the same kind from elsewhere in
    the article that its paragraph never uses: a question that sounds like the article
    but that the sentence no longer answers ("Who is the head of Universal Pictures?" ->
    "Who is the head of Roscosmos?"). None when no word can be swapped.

    Example:
        >>> pools = {(0, "name"): ["Roscosmos"], (0, "word"): ["budget"]}
        >>> perturb("Who is the head of Universal?", "Langley, the head of Universal, said.",
        ...         "Langley, the head of Universal, said.", 0, pools, random.Random(1))
        'Who is the head of Roscosmos?'
    """
    stop = _stop()
    low = paragraph.lower()
    in_sentence = {w.lower() for w in _WORD.findall(sentence)}
    shared = [m for m in _WORD.finditer(question) if m.start() > 0 and len(m.group()) >= 4
              and m.group().lower() not in stop and m.group().lower() in in_sentence]
    if not shared:
        return None
    # names and numbers first: the near misses people ask swap whom or what is asked about
    named = [m for m in shared if not _kind(m.group()).startswith("word")]
    m = rng.choice(named if named and rng.random() < 0.6 else shared)
    options = [w for w in pools.get((article, _kind(m.group())), ())
               if w.lower() not in low]
    if not options:
        return None
    new = rng.choice(options)
    return question[:m.start()] + new + question[m.end():]


def build_examples(keep, sents, para_sents, questions, rng: random.Random,
                   n_same: int = 1, n_article: int = 1, n_other: int = 0,
                   n_perturbed: int = 1, n_unanswerable: int = 2):
    """(question, sentence id, label, span) tuples for the questions of the articles that
    ``keep`` accepts: the positives, the ``n_same`` other sentences of the paragraph that
    BM25 ranks highest for the question, ``n_article`` of other paragraphs of the article
    and ``n_other`` of another article; with ``n_perturbed``, also the question
    ``perturb``ed against its answer sentence (a negative: the sentence no longer answers
    it). A question without answers (SQuAD v2.0's unanswerable ones, written to look
    answerable from their paragraph) gives the ``n_unanswerable`` sentences of its
    paragraph that BM25 ranks highest, as negatives."""
    import bm25s

    pools = swap_pools(sents, keep) if n_perturbed else {}

    pool = [i for i, s in enumerate(sents) if keep(s.article)]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([sents[i].text for i in pool], stopwords="en",
                                   show_progress=False), show_progress=False)
    qs = [q for q in questions if keep(q["article"])]
    found, _ = retriever.retrieve(bm25s.tokenize([q["q"] for q in qs], stopwords="en",
                                                 show_progress=False),
                                  k=min(60, len(pool)), show_progress=False, n_threads=2)
    out = []
    for q, hits in zip(qs, found, strict=True):
        ids = para_sents[(q["article"], q["para"])]
        pos = positives(q, ids, sents)
        golds = [norm(a["text"]) for a in q["answers"]]

        def holds_gold(i: int, golds=golds) -> bool:
            t = f" {norm(sents[i].text)} "
            return any(g and f" {g} " in t for g in golds)

        for i, span in pos.items():
            out.append((q["q"], i, 1, span))
        ranked = [pool[j] for j in hits.tolist()]
        in_para = set(ids)
        same = [i for i in ranked if i in in_para]
        rest = [i for i in ids if i not in same]
        rng.shuffle(rest)
        # the paragraph's sentences that look most like an answer first
        same = [i for i in same + rest if i not in pos and not holds_gold(i)]
        if not q["answers"]:
            out += [(q["q"], i, 0, None) for i in same[:n_unanswerable]]
            continue
        negs = same[:n_same]
        article, other = [], []
        for i in ranked:
            s = sents[i]
            if i in pos or i in negs or holds_gold(i):
                continue
            if s.article == q["article"] and s.para != q["para"] and len(article) < n_article:
                article.append(i)
            elif s.article != q["article"] and len(other) < n_other:
                other.append(i)
        for i in negs + article + other:
            out.append((q["q"], i, 0, None))
        if n_perturbed and pos:
            i = next(iter(pos))
            para = " ".join(sents[j].text for j in ids)
            made: set[str] = set()
            for _ in range(3 * n_perturbed):
                if len(made) == n_perturbed:
                    break
                q2 = perturb(q["q"], sents[i].text, para, q["article"], pools, rng)
                if q2 is not None and q2 not in made:
                    made.add(q2)
                    out.append((q2, i, 0, None))
    return out


def encode(tok, examples, sents):
    """Token ids, targets and question group; start/end are -100 where there is no span
    target."""
    rows = []
    groups: dict[str, int] = {}
    for question, i, label, span in examples:
        s = sents[i]
        text_b, sent_at = pair_text(s.title, s.prev, s.text)
        enc = tok(question, text_b, truncation="longest_first", max_length=MAX_LEN,
                  return_offsets_mapping=True)
        seq = enc.sequence_ids()
        offs = enc["offset_mapping"]
        allowed = [1 if seq[t] == 1 and offs[t][0] >= sent_at and offs[t][1] > offs[t][0]
                   else 0 for t in range(len(seq))]
        st = en = -100
        if label and span is not None:
            a, b = span[0] + sent_at, span[1] + sent_at
            toks = [t for t in range(len(seq)) if allowed[t] and offs[t][0] < b
                    and offs[t][1] > a]
            if toks:
                st, en = toks[0], toks[-1]
        rows.append((enc["input_ids"], enc["token_type_ids"], allowed, label, st, en,
                     groups.setdefault(question, len(groups))))
    return rows


def batches(rows, size: int, rng: random.Random):
    """Batches of whole questions (a question's positives and negatives stay together,
    for the listwise loss), length-bucketed (little padding), shuffled every epoch."""
    by_group: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        by_group.setdefault(r[6], []).append(i)
    groups = list(by_group.values())
    rng.shuffle(groups)
    chunk = 400
    out = []
    for c in range(0, len(groups), chunk):
        part = sorted(groups[c:c + chunk], key=lambda g: max(len(rows[i][0]) for i in g))
        batch: list[int] = []
        for g in part:
            batch += g
            if len(batch) >= size:
                out.append(batch)
                batch = []
        if batch:
            out.append(batch)
    rng.shuffle(out)
    return out


def listwise(answer, label, group):
    """Mean over the batch's questions with a positive and a negative of
    -log(softmax mass of the positives): the right sentence must outscore the question's
    wrong ones, not only clear a bar."""
    import torch

    losses = []
    for g in torch.unique(group).tolist():
        m = group == g
        lab = label[m] > 0.5
        if lab.any() and (~lab).any():
            x = answer[m]
            losses.append(torch.logsumexp(x, 0) - torch.logsumexp(x[lab], 0))
    return torch.stack(losses).mean() if losses else torch.zeros(())


def collate(rows, idx):
    import torch

    n = max(len(rows[i][0]) for i in idx)
    ids = torch.zeros(len(idx), n, dtype=torch.long)
    tt = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    allowed = torch.zeros(len(idx), n, dtype=torch.bool)
    for r, i in enumerate(idx):
        x = rows[i]
        ids[r, :len(x[0])] = torch.tensor(x[0])
        tt[r, :len(x[1])] = torch.tensor(x[1])
        mask[r, :len(x[0])] = 1
        allowed[r, :len(x[2])] = torch.tensor(x[2], dtype=torch.bool)
    label = torch.tensor([rows[i][3] for i in idx], dtype=torch.float)
    st = torch.tensor([rows[i][4] for i in idx])
    en = torch.tensor([rows[i][5] for i in idx])
    group = torch.tensor([rows[i][6] for i in idx])
    return ids, tt, mask, allowed, label, st, en, group


def make_model(base: Path):
    import torch
    from transformers import AutoModel

    class Reader(torch.nn.Module):
        def __init__(self):
            super().__init__()
            # the pretrained pooler (dense + tanh over [CLS]) reads sentence pairs from
            # MiniLM's pre-training: the answer head starts from it
            self.encoder = AutoModel.from_pretrained(base, attn_implementation="eager")
            h = self.encoder.config.hidden_size
            self.drop = torch.nn.Dropout(0.1)
            self.answer_head = torch.nn.Linear(h, 1)
            self.span_head = torch.nn.Linear(h, 2)

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids)
            hs = out.last_hidden_state
            answer = self.answer_head(self.drop(out.pooler_output)).squeeze(-1)
            span = self.span_head(self.drop(hs))
            return answer, span[..., 0], span[..., 1]

    return Reader()


def training_examples(args, rng: random.Random):
    """The sentences and (question, sentence, label, span) examples of the recipe:
    ``args.questions`` questions drawn from SQuAD v1.1 train, and the unanswerable SQuAD
    v2.0 questions of the even dev articles outside TUNE_ARTICLES."""
    sents: list[Sent] = []
    para_sents: dict[tuple[int, int], list[int]] = {}
    _, _, _, train_qs = load(squad_path(args.data, SQUAD_TRAIN), 0, sents, para_sents)
    rng.shuffle(train_qs)
    # --skip: go on past the questions an earlier run (--init) drew from the same shuffle
    train_qs = train_qs[args.skip:]
    train_qs = train_qs[:args.questions] if args.questions else train_qs
    examples = build_examples(lambda a: a < V2_BASE, sents, para_sents, train_qs, rng,
                              n_same=args.same, n_article=args.article,
                              n_perturbed=args.perturbed)
    n_unans = n_v2_ans = 0
    if args.unanswerable:
        _, _, _, v2_qs = load(squad_path(args.data, SQUAD_V2_EVEN), V2_BASE, sents, para_sents)
        tune = {q["article"] for q in v2_qs if q["dev_index"] in TUNE_ARTICLES}
        v2_qs = [q for q in v2_qs if q["article"] not in tune
                 and (args.v2_answerable or not q["answers"])]
        n_unans = sum(not q["answers"] for q in v2_qs)
        # with --v2-answerable, the paragraphs' answerable questions too: the reader sees a
        # question its paragraph answers beside one written to look answerable from it
        examples += build_examples(lambda a: a >= V2_BASE and a not in tune, sents,
                                   para_sents, v2_qs, rng, n_same=args.same,
                                   n_article=args.article, n_perturbed=0,
                                   n_unanswerable=args.unanswerable)
        n_v2_ans = len(v2_qs) - n_unans
    return sents, examples, len(train_qs), n_unans, n_v2_ans


def train(args) -> None:
    import torch
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup

    from challenge_qa.encoders.models import resolve_model

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    rng = random.Random(SEED)
    base = Path(resolve_model("sentence-transformers/all-MiniLM-L6-v2"))
    tok = AutoTokenizer.from_pretrained(base)
    t0 = time.perf_counter()
    sents, examples, n_train_qs, n_unans, n_v2_ans = training_examples(args, rng)
    if args.limit:
        examples = examples[:args.limit]
    rows = encode(tok, examples, sents)
    n_pos = sum(r[3] for r in rows)
    print(f"{len(rows)} pairs ({n_pos} positive) from "
          f"{len({e[0] for e in examples})} questions in {time.perf_counter() - t0:.0f} s",
          flush=True)
    dev = load(squad_path(args.data))[1:]

    args.init_recipe = None
    model = make_model(base)
    if args.init:  # go on from an earlier run's weights (its reader.pt)
        args.init_recipe = json.loads((Path(args.init) / "reader.json").read_text())["recipe"]
        model.load_state_dict(torch.load(Path(args.init) / "reader.pt", weights_only=True))
    # the word embeddings stay as pre-trained: 12M of the 23M weights, whose updates cost a
    # tenth of each step on a CPU and which a reader of sentences needs least
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    model.train()
    plan = [batches(rows, args.batch, rng) for _ in range(args.epochs)]
    steps = sum(len(p) for p in plan)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in params if "bias" not in n and "LayerNorm" not in n]
    rest = [p for n, p in params if "bias" in n or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": rest, "weight_decay": 0.0}], lr=args.lr)
    sched = get_linear_schedule_with_warmup(opt, int(0.06 * steps), steps)
    bce = torch.nn.BCEWithLogitsLoss()
    ce = torch.nn.CrossEntropyLoss(ignore_index=-100)
    recipe = recipe_of(args, len(rows), n_pos, n_train_qs, n_unans, n_v2_ans)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    step, seen, spent = resume(work, recipe, model, opt, sched)
    started = time.perf_counter() - spent
    seen_groups: set[int] = set()
    for epoch, plan_e in enumerate(plan):
        run = [0.0, 0.0, 0]
        for b, idx in enumerate(plan_e):
            done = sum(len(p) for p in plan[:epoch]) + b
            if done < step:  # resumed: these batches are in the checkpoint
                seen_groups.update(rows[i][6] for i in idx)
                continue
            ids, tt, mask, allowed, label, st, en, group = collate(rows, idx)
            answer, start, end = model(ids, mask, tt)
            neg = torch.finfo(start.dtype).min
            start = start.masked_fill(~allowed, neg)
            end = end.masked_fill(~allowed, neg)
            l_ans = bce(answer, label)
            has = st >= 0
            # a batch without a span target adds nothing (masked logits would sum to -inf)
            l_span = (ce(start[has], st[has]) + ce(end[has], en[has])) / 2 if has.any() \
                else torch.zeros(())
            l_list = listwise(answer, label, group) if args.listwise else torch.zeros(())
            loss = l_ans + args.span_weight * l_span + args.listwise * l_list
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            seen_groups.update(rows[i][6] for i in idx)
            seen = len(seen_groups)
            run[0] += l_ans.item()
            run[1] += l_span.item()
            run[2] += 1
            el = time.perf_counter() - started
            if step % 50 == 0:
                print(f"epoch {epoch + 1} step {step}/{steps} answer {run[0] / run[2]:.4f} "
                      f"span {run[1] / run[2]:.4f} {el / 60:.1f} min, "
                      f"eta {(steps - step) * el / step / 60:.1f} min", flush=True)
            if step % args.save_every == 0 or step == steps:
                checkpoint(work, recipe, model, opt, sched, step, seen, el)
        print(f"epoch {epoch + 1}: tune-split right sentence first "
              f"{validate(model, tok, *dev):.4f}", flush=True)
        model.train()
    minutes = (time.perf_counter() - started) / 60
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    torch.save(model.state_dict(), out / "reader.pt")  # for fine-tuning; not shipped
    export(model, tok, out)
    data = (f"SQuAD v1.1 train (CC BY-SA 4.0): {n_train_qs} questions"
            + (f" (after the first {args.skip} of the shuffle)" if args.skip else "")
            + f"; SQuAD v2.0 dev, even articles except {list(TUNE_ARTICLES)} (tuning): "
            f"{n_unans} unanswerable"
            + (f" and {n_v2_ans} answerable (their SQuAD v1.1 dev questions)"
               if n_v2_ans else "") + " questions; no question of the odd dev articles")
    init = json.loads((Path(args.init) / "reader.json").read_text()) if args.init else None
    card = {
        "version": args.version,
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0)",
        "data": f"{init['version']} ({init['data']}), then {data}" if init else data,
        "recipe": recipe,
        # with --init, the earlier run's minutes too: the time the shipped weights took
        "train_minutes": round(minutes + (init["train_minutes"] if init else 0), 1),
        "sha256": hashlib.sha256((out / "reader_int8.onnx").read_bytes()).hexdigest(),
    }
    (out / "reader.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"trained in {minutes:.1f} min; wrote {out}", flush=True)


def recipe_of(args, pairs: int, n_pos: int, n_train_qs: int, n_unans: int,
              n_v2_ans: int) -> dict:
    return {"version": args.version, "seed": SEED, "tune_articles": list(TUNE_ARTICLES),
            "epochs": args.epochs,
            "init": args.init_recipe, "batch": args.batch, "lr": args.lr,
            "span_weight": args.span_weight, "listwise": args.listwise,
            "train_questions": n_train_qs, "train_skipped": args.skip,
            "unanswerable_questions": n_unans, "v2_answerable_questions": n_v2_ans,
            "negatives": f"{args.same} same paragraph (BM25 first), {args.article} BM25 same "
                         f"article, {args.perturbed} perturbed question; unanswerable: "
                         f"{args.unanswerable} of the paragraph (BM25 first)",
            "max_len": MAX_LEN, "pairs": pairs, "positives": n_pos, "threads": args.threads,
            "frozen": "word embeddings", "limit": args.limit,
            "prev_chars": MAX_PREV_CHARS, "sentence_chars": MAX_SENTENCE_CHARS}


def checkpoint(work: Path, recipe: dict, model, opt, sched, step: int, seen: int,
               seconds: float) -> None:
    """Everything a resumed run needs, replaced atomically, and the weights alone at this
    step for the learning curve (``curve``)."""
    import torch

    tmp = work / "state.pt.tmp"
    torch.save({"recipe": recipe, "model": model.state_dict(), "opt": opt.state_dict(),
                "sched": sched.state_dict(), "step": step, "seen": seen,
                "seconds": seconds, "rng": torch.get_rng_state()}, tmp)
    tmp.replace(work / "state.pt")
    torch.save(model.state_dict(), work / f"weights-{step:06d}.pt")
    log = work / "curve.json"
    points = json.loads(log.read_text()) if log.exists() else []
    points = [p for p in points if p["step"] < step] + [
        {"step": step, "questions_seen": seen, "minutes": round(seconds / 60, 1)}]
    log.write_text(json.dumps(points, indent=1) + "\n")
    print(f"checkpoint at step {step} ({seen} questions seen) in {work}", flush=True)


def resume(work: Path, recipe: dict, model, opt, sched) -> tuple[int, int, float]:
    """Load ``work``'s checkpoint when it was written by this recipe: (step, questions
    seen, seconds spent); (0, 0, 0.0) for a fresh start."""
    import torch

    path = work / "state.pt"
    if not path.exists():
        return 0, 0, 0.0
    state = torch.load(path, weights_only=False)
    if state["recipe"] != recipe:
        raise SystemExit(f"{path} was written by another recipe: remove {work} or pass "
                         "another --work")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    torch.set_rng_state(state["rng"])
    print(f"resumed from step {state['step']} in {work}", flush=True)
    return state["step"], state["seen"], state["seconds"]


def validate(model, tok, sents, para_sents, questions, n: int = 300) -> float:
    """Right sentence first on ``n`` questions of the tuning articles (the gold
    paragraph's sentences + 6 random sentences of the same article, as ``evaluate``)."""
    import torch

    rng = random.Random(SEED + 1)
    model.eval()
    qs = rng.sample([q for q in questions if split_of(q["article"]) == "tune"], n)
    by_article: dict[int, list[int]] = {}
    for i, s in enumerate(sents):
        by_article.setdefault(s.article, []).append(i)
    right = 0
    with torch.no_grad():
        for q in qs:
            ids = para_sents[(q["article"], q["para"])]
            pos = positives(q, ids, sents)
            others = [i for i in by_article[q["article"]] if i not in ids]
            cand = ids + rng.sample(others, min(6, len(others)))
            rows = encode(tok, [(q["q"], i, 0, None) for i in cand], sents)
            ids_t, tt, mask, *_ = collate(rows, list(range(len(rows))))
            answer, _, _ = model(ids_t, mask, tt)
            right += cand[int(answer.argmax())] in pos
    return right / n


def export(model, tok, out: Path) -> None:
    """ONNX (opset 17, dynamic batch and length), int8 per-channel weights, tokenizer."""
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = out / "reader_fp32.onnx"
    dummy = tuple(torch.ones(2, 16, dtype=torch.long) for _ in range(3))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    outs = ["answer", "start", "end"]
    axes = {n: {0: "batch", 1: "sequence"} for n in names + ["start", "end"]}
    axes["answer"] = {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, dummy, str(fp32), input_names=names, output_names=outs,
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    quantize_dynamic(fp32, out / "reader_int8.onnx", weight_type=QuantType.QInt8,
                     per_channel=True)
    fp32.unlink()
    tok.backend_tokenizer.save(str(out / "tokenizer.json"))


def evaluate(args) -> None:
    """Held-out figures on the odd articles with the shipped int8 reader, written into its
    card; with ``--split tune``, the same figures on the tuning articles (for choosing
    between runs; printed, not written)."""
    from challenge_qa.encoders.reader import Reader

    model_dir = Path(args.model)
    figures = reader_figures(Reader(model_dir), load(squad_path(args.data))[1:], args.split,
                             args.sample)
    print(json.dumps(figures, indent=2))
    if args.split != "odd":
        return
    card_path = model_dir / "reader.json"
    card = json.loads(card_path.read_text())
    card["held_out"] = figures
    card_path.write_text(json.dumps(card, indent=2) + "\n")


class TorchReader:
    """A checkpoint's weights behind ``challenge_qa.encoders.reader.Reader.read`` (fp32, torch)."""

    def __init__(self, weights: Path):
        import torch
        from tokenizers import Tokenizer

        from challenge_qa.encoders.models import resolve_model

        base = Path(resolve_model("sentence-transformers/all-MiniLM-L6-v2"))
        self.model = make_model(base)
        self.model.load_state_dict(torch.load(weights, weights_only=True))
        self.model.eval()
        self.tok = Tokenizer.from_file(str(READER_DIR / "tokenizer.json"))
        self.tok.enable_truncation(MAX_LEN, strategy="longest_first")

    def read(self, question: str, items):
        import torch

        from challenge_qa.encoders.reader import Reading, best_spans

        pairs = [pair_text(*it) for it in items]
        encs = self.tok.encode_batch([(question, b) for b, _ in pairs])
        n, t = len(encs), max(len(e.ids) for e in encs)
        ids, types, mask = (np.zeros((n, t), np.int64) for _ in range(3))
        allowed = np.zeros((n, t), bool)
        offs = np.zeros((n, t, 2), np.int64)
        for r, (e, (_, at)) in enumerate(zip(encs, pairs, strict=True)):
            m = len(e.ids)
            ids[r, :m], types[r, :m], mask[r, :m] = e.ids, e.type_ids, 1
            o = np.asarray(e.offsets, np.int64).reshape(-1, 2)
            offs[r, :m] = o - at
            seq = np.array([x if x is not None else -1 for x in e.sequence_ids])
            allowed[r, :m] = (seq == 1) & (o[:, 0] >= at) & (o[:, 1] > o[:, 0])
        with torch.no_grad():
            a, st, en = self.model(*(torch.from_numpy(x) for x in (ids, mask, types)))
        spans, span_score = best_spans(st.numpy(), en.numpy(), allowed, offs)
        return Reading(1 / (1 + np.exp(-a.numpy().astype(np.float64))), spans, span_score)


def curve(args) -> None:
    """The learning curve: each checkpoint of ``--work`` scored as ``evaluate`` scores
    the shipped reader (odd articles: held out), against the questions it had seen."""
    import torch

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    points = json.loads((work / "curve.json").read_text())
    if args.steps:
        points = [p for p in points if p["step"] in set(args.steps)]
    dev = load(squad_path(args.data))[1:]
    out = []
    for p in points:
        path = work / f"weights-{p['step']:06d}.pt"
        if not path.exists():
            continue
        fig = reader_figures(TorchReader(path), dev, args.split, args.sample)
        out.append({**p, **fig})
        print(json.dumps(out[-1]), flush=True)
    (work / f"curve.{args.split}.json").write_text(json.dumps(out, indent=1) + "\n")


def reader_figures(reader, dev, split: str, sample: int) -> dict:
    """The reader alone on ``sample`` questions of the odd (or tuning) dev articles: right
    sentence first among the gold paragraph's sentences and 6 random ones of the article,
    the short answer in the gold sentence, and the ROC AUC of its score between the gold
    sentence and the best of 8 sentences of another article."""
    sents, para_sents, questions = dev
    rng = random.Random(SEED)
    pool = split_articles("odd") if split == "odd" else list(TUNE_ARTICLES)
    qs = [q for q in questions if q["article"] in set(pool)]
    qs = sorted(rng.sample(qs, min(sample, len(qs))), key=lambda q: q["id"])
    by_article: dict[int, list[int]] = {}
    for i, s in enumerate(sents):
        by_article.setdefault(s.article, []).append(i)
    first = em = f1 = n_span = 0
    pos_scores, neg_scores = [], []
    t0 = time.perf_counter()
    for q in qs:
        ids = para_sents[(q["article"], q["para"])]
        pos = positives(q, ids, sents)
        if not pos:
            continue
        others = [i for i in by_article[q["article"]] if i not in ids]
        cand = ids + rng.sample(others, min(6, len(others)))
        res = reader.read(q["q"], [(sents[i].title, sents[i].prev, sents[i].text)
                                   for i in cand])
        best = int(np.argmax(res.score))
        first += cand[best] in pos
        gold_i = next(iter(pos))
        gi = cand.index(gold_i)
        pos_scores.append(float(res.score[gi]))
        golds = [a["text"] for a in q["answers"]]
        a, b = res.spans[gi]
        pred = sents[gold_i].text[a:b]
        n_span += 1
        em += best_over_gold(exact_match, pred, golds)
        f1 += best_over_gold(f1_score, pred, golds)
        # the same question asked of another article's best-matching sentences
        other = rng.choice([x for x in pool if x != q["article"]])
        wrong = rng.sample(by_article[other], min(8, len(by_article[other])))
        r2 = reader.read(q["q"], [(sents[i].title, sents[i].prev, sents[i].text)
                                  for i in wrong])
        neg_scores.append(float(np.max(r2.score)))
    n = len(pos_scores)
    return {
        "questions": n,
        "right_sentence_first": round(first / n, 4),
        "span_em_in_gold_sentence": round(em / n_span, 4),
        "span_f1_in_gold_sentence": round(f1 / n_span, 4),
        "answerable_vs_wrong_article_auc": round(roc_auc(pos_scores, neg_scores), 4),
        "seconds": round(time.perf_counter() - t0, 1),
        "setting": f"{split} articles; candidates: the gold paragraph's sentences + 6 random "
                   "sentences of the same article (as the issue's prototype)",
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data")
    t.add_argument("--out", default=str(READER_DIR))
    t.add_argument("--epochs", type=int, default=1)
    t.add_argument("--questions", type=int, default=18000,
                   help="questions drawn from SQuAD v1.1 train (0: all 87,589)")
    t.add_argument("--same", type=int, default=1,
                   help="negatives per question from its paragraph")
    t.add_argument("--article", type=int, default=1,
                   help="negatives per question from other paragraphs of its article")
    t.add_argument("--unanswerable", type=int, default=2,
                   help="negatives per SQuAD v2.0 unanswerable question (0: none)")
    t.add_argument("--work", default=str(ROOT / "build" / "reader-work"),
                   help="checkpoints (resumed from when present) and the learning curve's "
                        "weights; outside git")
    t.add_argument("--save-every", type=int, default=150, help="steps between checkpoints")
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--lr", type=float, default=5e-5)
    t.add_argument("--span-weight", type=float, default=1.0)
    t.add_argument("--listwise", type=float, default=1.0,
                   help="weight of the listwise loss over each question's sentences")
    t.add_argument("--perturbed", type=int, default=1,
                   help="negatives per question: the question with a word swapped "
                        "(see perturb)")
    t.add_argument("--init", metavar="DIR",
                   help="start from the reader.pt an earlier run wrote to DIR")
    t.add_argument("--skip", type=int, default=0,
                   help="draw the train questions after the first N of the seeded shuffle "
                        "(those an --init run learnt from)")
    t.add_argument("--v2-answerable", action="store_true",
                   help="also the answerable v2.0 questions of the even dev articles (but "
                        "the tuning ones)")
    t.add_argument("--version", default=VERSION, help="the card's version")
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--limit", type=int, default=0, help="first N pairs only (a smoke run)")
    c = sub.add_parser("curve")
    c.add_argument("--data")
    c.add_argument("--work", default=str(ROOT / "build" / "reader-work"))
    c.add_argument("--sample", type=int, default=500)
    c.add_argument("--split", choices=["odd", "tune"], default="odd")
    c.add_argument("--steps", type=int, nargs="*", help="only these checkpoints")
    c.add_argument("--threads", type=int, default=2)
    e = sub.add_parser("evaluate")
    e.add_argument("--data")
    e.add_argument("--model", default=str(READER_DIR))
    e.add_argument("--sample", type=int, default=1500)
    e.add_argument("--split", choices=["odd", "tune"], default="odd",
                   help="odd: held-out figures, written into the card; tune: the tuning "
                        "articles, to choose between runs")
    args = ap.parse_args(argv)
    try:
        {"train": train, "curve": curve, "evaluate": evaluate}[args.cmd](args)
    except DataNotFoundError as e:
        raise SystemExit(str(e)) from None


if __name__ == "__main__":
    main()
