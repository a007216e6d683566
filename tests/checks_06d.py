"""The checks of page 06d_sample_metrics on the values it glues (run by tests/test_chapters.py)."""


def check_06d_sample_metrics(g):
    assert g["frechet_worst"] < 1e-8                    # against closed forms and scipy's sqrtm
    assert g["accuracy"] > 3 * g["chance"]              # the classifier is well above chance
    assert g["half_size"] >= 100
    assert 0 <= g["cfd_halves"] < 0.1 * g["cfd_shuffled"]    # same data: near 0; shuffled: far
    assert abs(g["cfd_ratio"] - 100 * g["cfd_halves"] / g["cfd_shuffled"]) < 1e-9
    noise = g["cfd_noise"]                               # std 0, 0.1, 0.2, 0.4, 0.8
    assert len(noise) == 5 and noise[0] == g["cfd_halves"]
    assert all(a < b for a, b in zip(noise, noise[1:]))  # more noise, farther
