"""T2.3 ``char-textgen``: a character-level LSTM language model generates text at several
temperatures; BLEU against held-out text is set beside measures that do move with temperature
(reference Table 3: samples at temperatures 0, 0.5, 1.0; Figure 4: BLEU against temperature).

Run it::

    dltour run char-textgen                     # demo: Tiny Shakespeare (embedded), LSTM 1x96, 6 seeds
    dltour run char-textgen --profile full --set data.path=Game_of_Thrones_Script.csv   # the reference's corpus
    dltour run char-textgen --profile full --set data.corpus=tinyshakespeare \\
        --set data.path=../shared/data/text/tinyshakespeare.txt

The demo is shrunk to run in seconds on a CPU: a 1x96 LSTM, 220 steps of 32 windows of 64
characters (under half a pass over the training text), 40 prompts per temperature; it learns (its
held-out bits per character are well below the character-unigram baseline) but writes far less
English than ``full``'s 2x512.

Setup. The reference states only: a character-level model trained on the Game of Thrones
scripts, the seed text "JAIME: Do you know how long it's going to take us to get to King's
Landing walking through fields an", temperatures 0, 0.5 and 1.0, and BLEU per temperature. Ours:

- corpora (``dltour.data.corpora``): the scripts CSV rendered as ``NAME: Sentence`` lines
  (``full``'s default; Kaggle needs a login, so it is given by path), any text file, or Tiny
  Shakespeare (embedded; the demo); the last 10% of the characters are held out (as nanoGPT does);
- model: Embedding(V, 64) -> LSTM -> Linear(V); ``full`` 2 layers x 512 units (dropout 0.2,
  char-rnn's usual size); Adam (lr 2e-3), batches of 64 random 100-character windows, gradient
  norm clipped at 1;
- validation: the loss over the whole held-out text, read as 32 parallel streams whose LSTM
  state is carried from one chunk to the next, in nats and bits per character; the trivial
  baseline is the held-out text's bits per character under the training text's character
  frequencies (a model worse than that learned nothing, and its samples carry no verdict);
- sampling: temperature T scales the logits (softmax(z / T)); T = 0 is greedy (argmax);
- Table 3: one continuation of 200 characters of the seed text per temperature (the JAIME seed
  for the scripts; for other corpora the first 100 held-out characters after a blank line);
- BLEU protocol: 50 prompts of 100 characters at random positions (seed 0) of the held-out text;
  each is continued for 200 characters per temperature and scored against the 200 characters that
  really follow it: one sacrebleu corpus BLEU per temperature (Figure 4) and one sentence BLEU per
  sample (default 13a tokenisation, one reference, newlines read as spaces; signature recorded);
- beyond the reference, per temperature over the samples: distinct-2, their bits per character
  under a character 3-gram model of the training text, and word measures (defined, with how
  each claim is decided, in ``findings``).
"""

from __future__ import annotations

from dltour.experiments.char_textgen import findings
from dltour.experiments.char_textgen import science
from dltour.experiments.char_textgen.science import Config, _corpus
from dltour.registry import register


@register
class CharTextgen(science.Science):
    name = "char-textgen"
    task = "T2.3"
    title = "Character LSTM text generation: temperature, BLEU and what BLEU misses"
    version = 2  # per-sample BLEU, word measures, unigram baseline
    small_runs = True
    profiles = {
        "smoke": {"data.corpus": "tinyshakespeare", "data.source": "embedded", "embed": 16, "hidden": 32, "layers": 1,
                  "dropout": 0.0, "seq_len": 50, "batch_size": 32, "epochs": 2, "steps_per_epoch": 15, "seeds": 1,
                  "temperatures": [0.0, 0.5, 1.0], "seed_text": None, "gen_length": 60, "bleu_prompts": 8},
        # demo: 220 steps of 32 x 64 characters (under half a pass over the 1.0M training characters); 6 seeds:
        # a trend that is perfectly monotone in every run goes to the exact sign test, which needs 6 runs to reach
        # p < 0.05 (3 give at best p = 0.25)
        "demo": {"data.corpus": "tinyshakespeare", "data.source": "embedded", "embed": 32, "hidden": 96, "layers": 1,
                 "dropout": 0.0, "seq_len": 64, "batch_size": 32, "lr": 1.5e-2, "epochs": 1, "steps_per_epoch": 220,
                 "seeds": 6, "seed_text": None, "bleu_prompts": 40},
        "full": {"data.corpus": "got", "seeds": 3},
    }
    check_offline = {"data.corpus": "tinyshakespeare", "data.source": "embedded"}  # the model check on the embedded text
    reference = findings.reference
    comparison = findings.comparison  # is a run comparable with the reference (data, budget)
    summarize = findings.summarize  # figures, tables and the findings: findings.py
    headline_metrics = ["val_bpc", "unigram_bpc", "val_loss_nats", "bleu_t0", "bleu_t0.5", "bleu_t1", "distinct2_t1"]

    def variants(self, cfg: Config) -> list[str]:
        return [f"lstm{cfg.layers}x{cfg.hidden}"]

    def check_data(self, cfg: Config) -> None:
        _corpus(cfg.data.corpus, cfg.data.path, cfg.data.source)  # the corpus reads and decodes
