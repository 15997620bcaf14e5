from offside_train.methods import BalancedBatchSampler


def _roles(sampler, n_forget):
    return ["F" if batch[0] < n_forget else "R" for batch in sampler]


def test_one_to_three_schedule_alternates_whole_steps():
    sampler = BalancedBatchSampler(n_forget=10, n_retain=30, batch_size=2, forget_steps=1, retain_steps=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 5 * 4
    assert "".join(_roles(batches, 10)) == "FRRR" * 5
    for batch in batches:  # never a mixed batch
        assert len({i < 10 for i in batch}) == 1 and len(batch) == 2
    forget_seen = sorted(i for b in batches for i in b if i < 10)
    assert forget_seen == list(range(10))  # one epoch = one pass over the forget set


def test_accumulation_keeps_every_micro_batch_of_a_step_in_one_role():
    sampler = BalancedBatchSampler(n_forget=8, n_retain=8, batch_size=2, forget_steps=1, retain_steps=3, repeat=2)
    assert "".join(_roles(sampler, 8)) == "FFRRRRRR" * 2


def test_custom_ratio_and_forget_only_schedules():
    assert "".join(_roles(BalancedBatchSampler(6, 6, 2, forget_steps=2, retain_steps=1), 6)) == "FFRFFR"
    assert "".join(_roles(BalancedBatchSampler(6, 0, 2), 6)) == "FFF"


def test_retain_batches_cycle_and_reshuffle_across_epochs():
    sampler = BalancedBatchSampler(n_forget=4, n_retain=6, batch_size=2, forget_steps=1, retain_steps=3, seed=1)
    first, second = list(sampler), list(sampler)
    retain = [i for b in first + second if b[0] >= 4 for i in b]
    assert sorted(retain[:6]) == list(range(4, 10))  # a full pass over retain before repeating
    assert first != second
