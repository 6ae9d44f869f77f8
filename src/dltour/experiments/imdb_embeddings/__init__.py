"""T2.2 ``imdb-embeddings``: a bidirectional LSTM classifies IMDB reviews as positive or negative
with three initialisations of its word embeddings: random uniform, GloVe (fine-tuned) and GloVe
frozen (reference Figure 3: accuracy per epoch; Table 2: the ten nearest words to "action").

Run it::

    dltour run imdb-embeddings                   # demo: 1,200 + 800 embedded reviews, GloVe 50d rows, 3 seeds
    dltour run imdb-embeddings --profile full    # 25k/25k reviews, GloVe 300d, 10 epochs, 3 seeds (GPU)
    dltour run imdb-embeddings --profile full --set glove_dim=50 \\
        --set data.glove_path=../shared/data/glove/glove.6B.zip --set data.path=../shared/data/imdb/aclImdb_v1.tar.gz

The demo is shrunk to run in seconds on a CPU (2,000 of the embedded training reviews, 40% of
them for validation, the last 64 tokens of each review, 16 LSTM units per direction, 6 epochs, Adam
lr 3e-3): its models learn, but far less than on the full data, and frozen 50d GloVe underfits there.

Setup. The reference states: a single-layer bidirectional LSTM with 100 units after an embedding
layer of 300 dimensions; random uniform, GloVe and frozen GloVe initialisations; curves over 10
epochs. The rest is ours:

- data: ``aclImdb_v1.tar.gz`` (25,000 train / 25,000 test); 20% of the training reviews (fixed
  split, seed 2, the same for every variant and seed) are the validation set; the test set is used
  once, with the weights of the epoch of best validation accuracy;
- tokenisation: ``dltour.data.imdb.tokenize`` (lower case, ``n't`` split off as in GloVe's
  tokeniser); the reviews' ``<br />`` line breaks are kept as the token ``br`` (``keep_br``,
  default on: the reference's Table 2 lists "br", so it evidently kept them); vocabulary: the
  20,000 most frequent training words occurring at least twice, plus padding and unknown; each
  review keeps its last 200 tokens (Keras' ``pad_sequences`` default), sequences are packed so
  padding costs nothing;
- embeddings: the dimension follows the GloVe file (300 in ``full`` as in the reference; the
  demo carries 50d rows only); random rows are U(-0.05, 0.05) (Keras' default); words missing from
  GloVe get random rows too (frozen in the frozen variant); the coverage is reported;
- head: a linear layer on the concatenated final forward and backward states, a sigmoid
  (``BCEWithLogitsLoss``); Adam (lr 1e-3), batch 64, batches bucketed by length;
- Table 2: cosine similarity over the trained embedding matrix, padding/unknown excluded.

What the runs mean (how each claim is measured and decided, the reference's numbers and margins,
Figure 3, Table 2, the summary): :mod:`dltour.experiments.imdb_embeddings.findings`.
"""

from __future__ import annotations

from dltour.data import glove
from dltour.experiments.imdb_embeddings import findings
from dltour.experiments.imdb_embeddings import science
from dltour.experiments.imdb_embeddings.science import Config, _reviews
from dltour.registry import register


@register
class ImdbEmbeddings(science.Science):
    name = "imdb-embeddings"
    task = "T2.2"
    title = "IMDB sentiment with a BiLSTM: random vs GloVe vs frozen GloVe embeddings"
    version = 2  # <br /> kept, curve and neighbourhood measures per run
    small_runs = True
    profiles = {
        "smoke": {"data.source": "embedded", "glove_dim": 50, "data.train_subset": 200, "data.test_subset": 100,
                  "max_len": 40, "max_vocab": 1000, "units": 8, "epochs": 2, "seeds": 1},
        # demo: 2,000 of the embedded training reviews (1,200 fit + 800 validation) and the 2,000 test
        # reviews, the last 64 tokens of each, 16 units: 9 runs in seconds, each well above chance
        "demo": {"data.source": "embedded", "glove_dim": 50, "data.train_subset": 2000, "val_fraction": 0.4,
                 "max_vocab": 10000, "max_len": 64, "units": 16, "epochs": 6, "lr": 3e-3, "seeds": 3},
        "full": {"data.source": "download", "glove_dim": 300, "epochs": 10, "seeds": 3},
    }
    check_offline = {"data.source": "embedded", "glove_dim": 50}  # the model check on the embedded reviews and 50d GloVe rows
    reference = findings.REFERENCE
    headline_metrics = ["test_acc", "peak_val_acc", "best_epoch", "max_train_acc", "val_roughness", "glove_overlap",
                        "polarity_align", "polarity_align_init"]
    # what the runs mean (findings, Figure 3, Table 2, comparable with the reference?): the findings file
    summarize = findings.summarize
    comparison = findings.comparison

    sweep = ("variants",)  # (random reads the GloVe file too: its neighbourhoods are compared with GloVe's)

    def variants(self, cfg: Config) -> list[str]:
        return list(dict.fromkeys(cfg.variants))

    def bench_default(self, cfg: Config) -> str:
        return "random"  # (the frozen variant skips the embedding's update)

    def check_data(self, cfg: Config) -> None:
        _reviews(cfg.data.path, cfg.data.source)  # the archive reads (cached: the local executor reuses it)
        glove.resolve(cfg.data.glove_path, cfg.data.source)
