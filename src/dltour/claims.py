"""The reference report's claims, R1..R49, one sentence each (from the project's claim list).

Class: ``T`` testable as written; ``T/X`` testable, with an explanation attached; ``N`` a number
or ordering read from the reference's own tables; ``X`` an explanation or speculation, shown in the
report without a verdict. A finding names the claim it decides by ``ref="R30"``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Claim:
    id: str
    task: str
    text: str
    kind: str  # "T", "T/X", "N" or "X"

    @property
    def testable(self) -> bool:
        return self.kind != "X"


#: the reference's tasks and the study that reproduces each (the report and ``--config`` sections
#: read this, not the registry, so they import no study; a test checks it against the registry)
TASKS: dict[str, str] = {
    "T1.1": "vgg-transfer", "T2.1": "airline-lstm", "T2.2": "imdb-embeddings", "T2.3": "char-textgen",
    "T3.1": "mnist-autoencoder", "T3.2": "denoise-losses", "T4.1": "mnist-generative", "T4.2": "colourise",
    "T5.1": "cartpole-td",
}


def task_key(task: str) -> tuple:
    """Sort key of a task id: ``"T2.10"`` after ``"T2.9"``."""
    return tuple(int(p) if p.isdigit() else p for p in task.lstrip("T").split("."))


CLAIMS: dict[str, Claim] = {c.id: c for c in [
    Claim('R1', 'T1.1', 'ImageNet weights "jump-start" learning; the model learns the new data quickly', 'T'),
    Claim('R2', 'T1.1', 'All layers trainable → quickly overfits, ~100% train accuracy', 'T'),
    Claim('R3', 'T1.1', 'Training only the FC layers gives a smoother training curve', 'T'),
    Claim('R4', 'T1.1', 'FC-only fine-tuned would beat fully trainable if trained >20 epochs', 'X'),
    Claim('R5', 'T1.1', 'Random init unsatisfactory in 20 epochs (~140M params)', 'T/X'),
    Claim('R6', 'T1.1', 'VGG-16 consistently outperforms VGG-19', 'T'),
    Claim('R7', 'T1.1', 'Large-input model (819,400 trainable) has a flatter learning curve', 'T'),
    Claim('R8', 'T1.1', 'Large-input frozen ≥ 64-px frozen in test acc (Table 7)', 'N'),
    Claim('R9', 'T1.1', 'ImageNet > frozen > random (Table 7)', 'N'),
    Claim('R10', 'T2.1', 'No qualitative pattern except that larger windows start later', 'T'),
    Claim('R11', 'T2.1', 'Lower test error for windows 12 and 18–22', 'T'),
    Claim('R12', 'T2.1', '…because 1–1.5 years show the seasonality', 'X'),
    Claim('R13', 'T2.1', 'Average test "MSE" 58.7 (Fig 13)', 'N'),
    Claim('R14', 'T2.2', 'All models overfit: ~perfect train accuracy within 10 epochs', 'T'),
    Claim('R15', 'T2.2', 'Validation accuracy peaks after 3–4 epochs', 'T'),
    Claim('R16', 'T2.2', 'Frozen GloVe has the smoothest curve', 'T'),
    Claim('R17', 'T2.2', 'Frozen GloVe reaches the highest validation accuracy', 'T'),
    Claim('R18', 'T2.2', 'Random embeddings learn no human-readable neighbourhood', 'T'),
    Claim('R19', 'T2.2', '…although the random model performs well on validation', 'T'),
    Claim('R20', 'T2.2', 'Fine-tuned GloVe learns domain-specific (movie-review) similarities', 'T'),
    Claim('R21', 'T2.3', 'Low temperature → predictable text, shorter, more common words', 'T'),
    Claim('R22', 'T2.3', 'High temperature → more surprising, richer vocabulary and structure, less meaningful', 'T'),
    Claim('R23', 'T2.3', 'BLEU shows no correlation with temperature', 'T'),
    Claim('R24', 'T2.3', 'BLEU ignores meaning/structure; morphological richness should raise it at high T', 'X'),
    Claim('R25', 'T2.3', 'A word-level model would control meaning better', 'X'),
    Claim('R26', 'T3.1', 'The Table 4 (3-layer) architecture is the best of those explored', 'T'),
    Claim('R27', 'T3.1', 'Deep non-linear AE test MSE ≪ linear (0.0031 vs 0.056)', 'T'),
    Claim('R28', 'T3.1', 'K-Means accuracy: AE 61.0% > linear 39.9% > random ~10%', 'T'),
    Claim('R29', 'T3.1', 't-SNE gives a clearer class distribution than PCA', 'T'),
    Claim('R30', 'T3.2', 'MAE gives the best test MSE', 'T'),
    Claim('R31', 'T3.2', '…followed closely by correntropy σ=1e2 and MSE', 'T'),
    Claim('R32', 'T3.2', 'Increasing σ harms training (test MSE rises with σ)', 'T'),
    Claim('R33', 'T3.2', 'Larger σ → early stopping before 15 epochs (15/9/5)', 'T'),
    Claim('R34', 'T3.2', 'Larger σ → larger gradients', 'T/X'),
    Claim('R35', 'T3.2', '…so the network trains faster and overfits sooner', 'T'),
    Claim('R36', 'T4.1', 'VAE MAE depends more on latent size than on the extra layer', 'T'),
    Claim('R37', 'T4.1', '…which confirms the trend in the autoencoder section (Fig 14)', 'T'),
    Claim('R38', 'T4.1', 'IS rises more with the extra layer than with latent size', 'T'),
    Claim('R39', 'T4.1', 'The GAN with larger random input has a much higher IS', 'T'),
    Claim('R40', 'T4.1', '…also higher than the VAEs', 'T'),
    Claim('R41', 'T4.1', '…because p(y) is more uniform (more diverse samples)', 'T/X'),
    Claim('R42', 'T4.2', 'U-Net slightly better by MAE (0.045 vs 0.046)', 'T'),
    Claim('R43', 'T4.2', 'cGAN colours are much more vivid and realistic', 'T'),
    Claim('R44', 'T4.2', '…even at the cost of wrong colours for objects', 'T'),
    Claim('R45', 'T4.2', 'MAE/variance do not capture the quality difference', 'T'),
    Claim('R46', 'T4.2', 'U-Net learns a conservative, smooth, uniform colouring', 'T'),
    Claim('R47', 'T5.1', 'Q-learning more stable than SARSA (ε-greedy)', 'T'),
    Claim('R48', 'T5.1', 'Q-learning more stable than SARSA (softmax)', 'T'),
    Claim('R49', 'T5.1', '…because of the off-policy max vs SARSA\'s "estimate of an estimate"', 'X'),
]}


def for_task(task: str) -> list[Claim]:
    return [c for c in CLAIMS.values() if c.task == task]


# The reference's figure titles (its Figure 1..16), for the report's captions: a study's figure file
# ``figN_*.png`` (``fig7b_*`` too) shows what the reference's Figure N shows, redrawn from our runs.
FIGURES: dict[int, str] = {
    1: "T1.1. Training and validation accuracy for different VGG architectures and weights initializations.",
    2: "T2.1. Test set predictions for different window sizes.",
    3: "T2.2. Training and validation accuracy for different embeddings initialization methods.",
    4: "T2.3. BLEU scores for different temperatures.",
    5: "T3.1. Original image VS. best autoencoder reconstruction VS. linear autoencoder reconstruction.",
    6: "T3.1. Classes distribution in the representation space. Two-dimensional representation obtained with PCA.",
    7: "T4.2. Comparison of images coloured by a UNet (MAE, in the pictures) and a cGAN. On the right, we show that "
       "variance and MAE cannot fully express how realistic an image is.",
    8: "T5.1. Comparison of different learning approaches, in terms of average of last 100 episode rewards VS. "
       "episodes trained.",
    9: "T1.1. Training and validation accuracy for architectures with large input data.",
    10: "T1.1. Training and validation accuracy for VGG-16.",
    11: "T1.1. Training and validation accuracy for VGG-19.",
    12: "T1.1. Training and validation accuracy for architectures with large input data.",
    13: "T2.1. Test set MSE for different window sizes.",
    14: "T3.1. Test set MSE for different autoencoder architectures.",
    15: "T3.1. Classes distribution in the representation space. Two-dimensional representation obtained with t-SNE.",
    16: "T5.1. Comparison of different learning approaches, in terms of average of last 100 episode rewards VS. "
        "episodes trained. Different figures represent different initial random seeds",
}


def figure_caption(filename: str) -> str:
    """The caption of one of our figures: the reference's own title for ``figN_*.png`` ("after the
    reference's Figure N: ..."), otherwise our figure's name in words, marked as ours."""
    import re
    from pathlib import Path

    stem = Path(filename).stem
    m = re.match(r"fig(\d+)([a-z]?)_(.*)", stem)
    if m and int(m.group(1)) in FIGURES:
        n, sub, rest = int(m.group(1)), m.group(2), m.group(3).replace("_", " ")
        if sub:
            return f"Beside the reference's Figure {n} ({FIGURES[n]}): {rest} (ours)."
        return f"After the reference's Figure {n}: {FIGURES[n]}"
    words = re.sub(r"^t\d+_\d+_", "", stem).replace("_", " ")
    return f"{words.capitalize()} (our figure; the reference has none like it)."
