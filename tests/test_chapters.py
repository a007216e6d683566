"""Every chapter executed with papermill at the smoke scale, and the results it glues into its text."""
import ast
import re
from pathlib import Path

import jupytext
import papermill
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book" / "chapters").glob("*.md"))


def glued(notebook) -> dict:
    """The values a chapter glued (myst_nb.glue writes scrapbook-style display_data outputs)."""
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {}).get("scrapbook")
            if meta:
                text = next(v for k, v in output["data"].items() if k.endswith("text/plain"))
                try:
                    values[meta["name"]] = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    values[meta["name"]] = text
    return values


def parameters(notebook) -> set[str]:
    """Names assigned in the chapter's `parameters` cell."""
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    return {t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)}


def referenced(path: Path) -> set[str]:
    """Glue keys that the chapter's prose quotes."""
    return set(re.findall(r"\{glue(?::\w+)?\}`([\w-]+)", path.read_text()))


def check_01(g):
    assert g["scale"] == "smoke"
    assert 0 < g["nn_usage"] <= 1 and 0 < g["ema_usage"] <= 1
    assert abs(g["nn_usage"] + g["nn_dead"] - 1) < 1e-9
    assert 1 <= g["nn_ppl"] <= 1024 and 1 <= g["ema_ppl"] <= 1024
    assert g["toy_used_bad"] < g["toy_used_good"] <= g["toy_codes"] == 24
    assert g["nn_psnr"] > 5 and g["ema_psnr"] > 5


def check_a1(g):
    assert g["data_name"] in ("mnist", "fashion-mnist", "mnist-5k", "digits") and g["data_train"] > 1000


def check_a3(g):
    assert g["resume_tensors"] > 10


def check_a4(g):
    assert g["n_experiments"] >= 6 and g["smoke_psnr"] > 5


def check_e1(g):
    assert g["n_records"] == len(list((ROOT / "book" / "results").glob("*.json")))


CHECKS = {"01_vq_preliminaries": check_01, "a1_data": check_a1, "a3_training": check_a3,
          "e1_recorded_results": check_e1, "a4_experiments": check_a4}

# Chapters 2-4: each adds its own check function and CHECKS entry below this line.

def check_02(g):
    assert g["scale"] == "smoke"
    assert g["toy_err_preserving"] < 0.2 * g["toy_err_arbitrary"]
    assert g["mse_bayes"] < g["mse_nearest"]
    assert g["bregman_err"] < 1e-8 and g["printed_min"] < 0 and g["theorem_gap"] < 1e-10
    assert g["probe_digits"] > 0.9
    assert g["data_name"] in ("mnist", "fashion-mnist", "mnist-5k", "digits") and g["live_steps"] == 40
    for row in ("ae", "vqvae", "bayes"):
        assert 0 < g[f"{row}_cluster_acc"] <= 1 and 0 <= g[f"{row}_nmi"] <= 1
        assert 0 < g[f"{row}_probe_acc"] <= 1 and g[f"{row}_psnr"] > 5


CHECKS["02_soft_vq"] = check_02


def check_03(g):
    assert g["scale"] == "smoke"
    assert g["brute_cases"] == 5 and g["lp_gap"] < 1e-9 and g["kmeans_gap"] < 1e-9
    assert g["lloyd_used"] < g["bal_codes"] == 8 and g["bal_per_code"] == 100 and g["bal_price"] >= 1
    assert g["toy_used_ws"] == g["toy_codes"] == 24 and g["toy_used_vq"] <= 12
    assert g["fd_err"] < 1e-6 and g["support_uniform"] == 512 < g["support_learned"] == 543
    assert g["full_steps"] == 156_250 and g["exact_step_s"] > 0 and g["rest_step_s"] > 0
    assert abs(g["exact_full_hours"] - g["full_steps"] * g["exact_step_s"] / 3600) < 1e-9
    assert g["image_data"] in ("mnist", "fashion-mnist", "mnist-5k", "digits") and g["image_steps"] == 20
    for key in ("vq", "wae"):
        assert 1 <= g[f"{key}_perplexity"] <= 512 and 0 < g[f"{key}_usage"] <= 1
        assert g[f"{key}_psnr"] > 5 and -1 <= g[f"{key}_ssim"] <= 1
    assert all(1 <= g[f"sweep_ppl_{k}"] <= k for k in (64, 128, 256, 512))


CHECKS["03_vq_wae"] = check_03


def check_04(g):
    assert g["scale"] == "smoke"
    assert g["lp_used_ot"] == 1.0 and g["lp_used_nn"] < 0.5
    assert g["code0_large"] == 1.0 and g["span_law_worst"] < 0.25 and g["guard_agree"] < 1
    assert g["conv_err5_shift"] < g["conv_err5_among"] and 0.5 < g["conv_agree5_among"] < 1
    assert g["emd_agree_large"] >= 0.95 > g["emd_agree_small"] and g["consistency_overlap"] >= 0.95
    assert g["toy_used_optvq"] >= 2 * g["toy_used_nn"] and g["toy_codes"] == 24
    assert g["nk_fast"] == 1 and g["ddp_same_global"] == 1.0 > g["ddp_same_local"]
    assert 0 <= g["ws_gap_100"] < 0.02
    assert g["image_data"] in ("mnist", "fashion-mnist", "mnist-5k", "digits") and g["image_steps"] == 40
    assert 0 < g["nn_usage"] < g["optvq_usage"] <= 1 and 1 <= g["optvq_ppl"] <= 1024
    assert g["nn_psnr"] > 5 and g["optvq_psnr"] > 5


CHECKS["04_optvq"] = check_04


def check_05(g):
    assert g["scale"] == "smoke"
    assert g["limit_agree_weighted"] == 1.0 > g["limit_agree_nearest"]
    assert g["toy_used_corner"] >= 2 * g["toy_used_vq"]
    assert g["compare_seeds"] == 2 and g["compare_steps"] == 10     # Appendix D's smoke recipe
    assert 0 < g["optvq_alone"] <= 1 and 0 < g["optvq_nn_usage"] <= 1


CHECKS["05_family"] = check_05


@pytest.mark.chapter
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_at_smoke_scale(path, tmp_path):
    source = jupytext.read(path)
    params = {"scale": "smoke", "device": "cpu"}
    params = {k: v for k, v in params.items() if k in parameters(source)}
    out = papermill.execute_notebook(source, str(tmp_path / f"{path.stem}.ipynb"), parameters=params,
                                     kernel_name="python3", cwd=str(path.parent), progress_bar=False,
                                     execution_timeout=900)
    values = glued(out)
    assert referenced(path) <= set(values), f"prose quotes values the chapter does not glue: {referenced(path) - set(values)}"
    if path.stem in CHECKS:
        CHECKS[path.stem](values)
