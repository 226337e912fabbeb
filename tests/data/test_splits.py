import logging

from tumorseg.data import SliceRecord, split_records


def _records(n_patients=20, per=(1, 2, 3, 5, 8)):
    recs = []
    for p in range(n_patients):
        for k in range(per[p % len(per)]):
            recs.append(SliceRecord(case_id=f"{p}_{k}", image=f"{p}_{k}.png", patient=f"P{p}"))
    return recs


def test_split_is_deterministic_and_order_independent():
    recs = _records()
    a = split_records(recs, seed=7)
    b = split_records(list(reversed(recs)), seed=7)
    assert {k: sorted(v) for k, v in a.items()} == {k: sorted(v) for k, v in b.items()}
    c = split_records(recs, seed=8)
    assert sorted(a["test"]) != sorted(c["test"])


def test_no_patient_in_two_splits_and_all_used():
    recs = _records()
    split = split_records(recs, seed=3)
    patient = {r.case_id: r.patient for r in recs}
    owners = [{patient[c] for c in split[k]} for k in ("train", "val", "test")]
    assert not (owners[0] & owners[1]) and not (owners[0] & owners[2]) and not (owners[1] & owners[2])
    assert sorted(sum(split.values(), [])) == sorted(r.case_id for r in recs)


def test_fractions_close_to_70_20_10():
    recs = _records(n_patients=150)
    split = split_records(recs, seed=0)
    n = len(recs)
    assert abs(len(split["train"]) / n - 0.7) < 0.03
    assert abs(len(split["val"]) / n - 0.2) < 0.03
    assert abs(len(split["test"]) / n - 0.1) < 0.03


def test_slice_split_warns_without_patients(caplog):
    recs = [SliceRecord(case_id=str(i), image=f"{i}.png") for i in range(30)]
    with caplog.at_level(logging.WARNING):
        split = split_records(recs, seed=0)
    assert "splitting by slice" in caplog.text
    assert sum(len(v) for v in split.values()) == 30
