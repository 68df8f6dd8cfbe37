"""`safemix.ratios`: the one count rule that generate and mix share."""

from fractions import Fraction

from safemix.ratios import count_for_ratio, exact_ratio


def test_exact_ratio_is_the_typed_decimal():
    assert exact_ratio(0.05) == Fraction(1, 20)
    assert exact_ratio(0.1) == Fraction(1, 10)


def test_generate_and_mix_use_the_same_rule():
    import safemix.generate
    import safemix.mix.plan

    assert safemix.generate.count_for_ratio is count_for_ratio is safemix.mix.plan.count_for_ratio
    assert count_for_ratio(95, 0.05) == 5
