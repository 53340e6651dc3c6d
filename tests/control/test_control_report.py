"""The summary table reads the bench's metrics.json (the raw baseline left out here)."""

from __future__ import annotations

import json

from jepakit_control.report import build_table


def test_the_summary_table_has_a_row_per_count_and_method(tmp_path):
    rows = []
    for ds in ("demos-2", "demos-8"):
        for m, own in (("jepa[act-jepa]", 1.0), ("random-init", 0.0)):
            rows.append({"task": f"{ds}:actions", "method": m, "mse": 0.3, "mse_std": 0.01, "seeds": 3})
            rows.append({"task": f"{ds}:closed-loop", "method": m, "return": -500.0, "return_std": 20.0, "success": 0.5, "seeds": 3})
            rows.append({"task": f"{ds}:closed-loop-own", "method": m, "return": -400.0, "return_std": 10.0, "success": 0.6,
                         "mse": 0.2, "own_head": own, "seeds": 3})
            rows.append({"task": f"{ds}:thetadot", "method": f"{m}/linear", "r2": 0.9, "seeds": 1})
        rows.append({"task": f"{ds}:thetadot", "method": "raw/linear", "r2": 0.5, "seeds": 1})
    (tmp_path / "metrics.json").write_text(json.dumps({"summary": rows}))
    table = build_table(tmp_path, with_raw=False).splitlines()
    assert len(table) == 2 + 2 * 3  # header, rule, 3 methods (raw-bc from its probe row) x 2 counts
    assert table[2].startswith("| 2 | jepa[act-jepa] | 0.300 ± 0.010 | -500 ± 20 | 0.50 | 0.200 / -400 ± 10 / 0.60 | 0.900")
    assert "| 2 | random-init | 0.300 ± 0.010 | -500 ± 20 | 0.50 | – |" in table[3]
    assert table[4].startswith("| 2 | raw-bc | – | – | – | – | 0.500")
