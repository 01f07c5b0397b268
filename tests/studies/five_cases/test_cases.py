from sparsekeras.studies.five_cases import presets
from sparsekeras.studies.five_cases.cases import cost_label


def test_cost_label_names_the_error_and_each_penalty_of_the_case():
    original = presets.ORIGINAL.cases
    assert cost_label(original["plain"]) == "½‖x − x̂‖² per image"
    assert cost_label(original["kl_sparse"]) == (
        "½‖x − x̂‖² per image\n+ weight decay + KL"
    )
    assert cost_label(presets.PAPER.cases["k_sparse"]) == ("‖x − x̂‖² per image")
