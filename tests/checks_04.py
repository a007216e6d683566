"""Glued results of Chapter 4's pages (OptVQ), called by tests/test_chapters.py after the papermill
smoke run of each page: check_<page stem>(glued values)."""


def check_04a_sinkhorn(g):
    assert g["scale"] == "smoke"
    assert g["lp_used_ot"] == 1.0 and g["lp_used_nn"] < 0.5


def check_04b_normalization(g):
    assert g["scale"] == "smoke"
    assert g["code0_large"] == 1.0 and g["span_law_worst"] < 0.25
    assert g["guard_changed"] > 0.01 and g["guard_free_agree"] > 0.999
    assert 0 < g["norm_span_max"] and g["norm_nk_limit"] < 8192 * 16384


def check_04c_convergence(g):
    assert g["scale"] == "smoke"
    assert g["conv_err5_shift"] < g["conv_err5_among"] and 0.5 < g["conv_agree5_among"] < 1
    assert g["emd_agree_large"] >= 0.95 > g["emd_agree_small"] and g["consistency_overlap"] >= 0.95
    assert 0 <= g["ws_gap_100"] < 0.02


def check_04d_quantizer(g):
    assert g["scale"] == "smoke"
    assert g["nk_fast"] == 1 and g["ddp_same_global"] == 1.0 > g["ddp_same_local"]


def check_04e_images(g):
    assert g["scale"] == "smoke"
    assert g["toy_used_optvq"] >= 2 * g["toy_used_nn"] and g["toy_codes"] == 24
    assert g["image_data"] in ("mnist", "fashion-mnist", "mnist-5k", "digits")
    assert g["image_steps"] == 40
    assert 0 < g["nn_usage"] < g["optvq_usage"] <= 1 and 1 <= g["optvq_ppl"] <= 1024
    assert g["nn_psnr"] > 5 and g["optvq_psnr"] > 5
    assert 0 < g["optvq_alone_agree"] < 1 and 0 < g["optvq_nn_rule_usage"] <= 1
    assert 9.02 < g["blank_black"] < g["blank_grey"] < g["blank_mean"] < 13   # mnist-5k, fixed
    assert 0 < g["ce_usage"] <= 1 and 1 <= g["ce_ppl"] <= 1024 and g["ce_psnr"] > 5


def check_04f_table3(g):
    """The page's reading of the recorded grid, against the records read here, one by one."""
    import json
    from pathlib import Path
    folder = Path(__file__).resolve().parent.parent / "book" / "results"
    data = g["grid_data"]
    cells = {}
    for path in folder.glob(f"optvq_t3_*_{data}.json"):
        how, d, k = path.name.removeprefix("optvq_t3_").split("_")[:3]
        cells[how, int(d[1:]), int(k[1:])] = json.loads(path.read_text())["metrics"]
    assert len(cells) == 16, sorted(cells)
    assert abs(g["nn_most"] - 100 * max(m["usage"] for (h, _, _), m in cells.items()
                                        if h == "nn")) < 1e-9
    assert abs(g["ot_least"] - 100 * min(m["usage"] for (h, _, _), m in cells.items()
                                         if h == "ot")) < 1e-9
    assert g["ot_wins"] == sum(cells["ot", d, k]["psnr"] > cells["nn", d, k]["psnr"]
                               for (h, d, k) in cells if h == "nn")
    assert g["batch_vectors"] == 64 * 8 * 8                  # the quick recipe's batch, 8 x 8 grid
