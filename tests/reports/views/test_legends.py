"""Every legend entry and label shows (issue 24, item 6): the Training chart is tall
enough for all configurations and its dash legend draws dashes; the Checks grid
names every loss and init, on a colour scale where a passing check is never red."""

from __future__ import annotations

import math

import pandas as pd

from scratchlab.reports.views import checks, training

#: pixels one legend entry takes in the app (measured on a Chromium screenshot)
ENTRY_PX = 30


def cnn_curves() -> pd.DataFrame:
    """6 norms x 5 optimizers x 2 repeats: the README's CNN optimizer sweep."""
    norms = ["none", "batchnorm", "layernorm", "instancenorm", "groupnorm", "running-batchnorm"]
    optimizers = ["sgd", "sgd-wd", "momentum", "adam", "lamb"]
    rows, metric = [], []
    run_id = 0
    for norm in norms:
        for optimizer in optimizers:
            for repeat in (0, 1):
                run_id += 1
                rows.append(
                    {
                        "run_id": run_id,
                        "experiment": "train",
                        "seed": repeat,
                        "repeat": repeat,
                        "norm": norm,
                        "optimizer": optimizer,
                    }
                )
                metric += [
                    {"run_id": run_id, "name": "train_loss", "step": s, "value": 2.0 / (s + 1)}
                    for s in range(5)
                ]
    runs = pd.DataFrame(rows)
    return training.aggregate_repeats(pd.DataFrame(metric), runs)


def test_the_training_chart_is_tall_enough_for_every_colour_and_dash_entry():
    chart = training.curve_chart(cnn_curves(), "train_loss")
    spec = chart.to_dict()
    assert spec["height"] >= ENTRY_PX * (6 + 5)
    line = spec["layer"][1]
    dash_legend = line["encoding"]["strokeDash"]["legend"]
    colour_legend = line["encoding"]["color"]["legend"]
    # dashes drawn as lines, not as dots (a filled symbol hides its dash pattern)
    assert dash_legend["symbolType"] == "stroke" and dash_legend["symbolFillColor"] == "transparent"
    assert colour_legend["symbolType"] == "stroke"
    assert dash_legend["symbolLimit"] == 0 and colour_legend["symbolLimit"] == 0


def grid(errors: dict[tuple[str, str, str], float]) -> pd.DataFrame:
    runs = pd.DataFrame(
        [
            {
                "run_id": i,
                "init": init,
                "activation": activation,
                "loss": loss,
                "status": "done",
                "x.max_rel_err": error,
                "passed": 1.0 if error < 1e-3 else 0.0,
                "loss_metric": 2.3,
                "rtol": 1e-3,
            }
            for i, ((init, activation, loss), error) in enumerate(errors.items(), start=1)
        ]
    )
    return checks.gradcheck_grid(runs)


def test_the_checks_colour_scale_is_fixed_around_the_tolerance():
    # every check passes, their errors spread over half a decade: none may look red
    passing = grid(
        {("kaiming-normal", "relu", loss): 1e-6 * (1 + i) for i, loss in enumerate(["mse", "nll"])}
    )
    spec = checks.heatmap(passing).to_dict()
    scale = spec["spec"]["layer"][0]["encoding"]["color"]["scale"]
    assert scale["domain"] == [math.log10(1e-3) - 5, math.log10(1e-3), math.log10(1e-3) + 3]
    assert scale["range"][0].startswith("#1a") and scale["clamp"] is True  # green end first
    assert checks.tolerance(passing) == 1e-3


def test_the_checks_grid_names_every_loss_and_init():
    losses = [
        "cross-entropy",
        "label-smoothing",
        "mse",
        "nll-logsumexp",
        "nll-naive",
        "nll-simplified",
    ]
    inits = ["kaiming-normal", "torch-kaiming-normal", "xavier"]
    spec = checks.heatmap(
        grid({(i, "relu", loss): 1e-6 for i in inits for loss in losses})
    ).to_dict()
    x_axis = spec["spec"]["layer"][0]["encoding"]["x"]["axis"]
    assert x_axis["labelOverlap"] is False and x_axis["labelLimit"] == 0
    header = spec["facet"]["row"]["header"]
    assert header["labelAngle"] == 0 and header["labelLimit"] == 0
