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


def test_one_grouping_rule_for_every_split():
    import pytest

    from tumorseg.data.splits import grouped_by, kfold_split

    two = _records(n_patients=2)
    no_ids = [SliceRecord(case_id=f"s{i}", image=f"s{i}.png") for i in range(6)]
    assert [grouped_by(r) for r in (_records(n_patients=3), two, no_ids)] == ["patient", "slice", "slice"]
    partly = _records(n_patients=4) + no_ids[:1]
    assert grouped_by(partly) == "slice"
    # K-fold follows the same rule: 2 patients of 3 slices are dealt by slice, so all 3 folds get a test part
    two = _records(n_patients=2, per=(3,))
    folds = [kfold_split(two, folds=3, fold=k, seed=0)["test"] for k in range(3)]
    assert [len(f) for f in folds] == [2, 2, 2] and sorted(sum(folds, [])) == sorted(r.case_id for r in two)
    with pytest.raises(ValueError):
        kfold_split(two, folds=3, fold=3)


def test_kfold_keeps_each_patient_in_one_test_fold_and_tests_everyone_once():
    from tumorseg.data.splits import kfold_split

    recs = _records(n_patients=23)  # 1 to 8 slices per patient, 88 slices
    patient = {r.case_id: r.patient for r in recs}
    folds = [kfold_split(recs, folds=5, fold=k, seed=4) for k in range(5)]
    tests = [f["test"] for f in folds]
    assert sorted(c for t in tests for c in t) == sorted(patient)  # every slice tested exactly once
    tested = [{patient[c] for c in t} for t in tests]
    for i in range(5):
        for j in range(i + 1, 5):
            assert not tested[i] & tested[j], (i, j)  # a patient's slices never split over two test folds
    for f in folds:
        owners = {name: {patient[c] for c in f[name]} for name in ("train", "val", "test")}
        assert not (owners["train"] & owners["val"] or owners["train"] & owners["test"] or owners["val"] & owners["test"])
        assert sorted(f["train"] + f["val"] + f["test"]) == sorted(patient)
    sizes = [len(t) for t in tests]
    assert max(sizes) - min(sizes) <= 8  # dealt largest patient first into the emptiest fold: within one patient
    again = kfold_split(list(reversed(recs)), folds=5, fold=2, seed=4)["test"]
    assert sorted(again) == sorted(tests[2])  # independent of the order the records come in
