import pytest

from fcn4 import GTZAN_GENRES, MTAT_TAGS, load_labels, top_k
from fcn4.model.labels import available_label_sets


def test_mtat_tags_are_in_checkpoint_order():
    assert len(MTAT_TAGS) == 50 and len(set(MTAT_TAGS)) == 50
    assert MTAT_TAGS[:5] == ("choral", "female voice", "metal", "country", "weird")
    assert MTAT_TAGS[-5:] == ("strings", "techno", "slow", "classical", "guitar")
    assert MTAT_TAGS.index("rock") == 42 and MTAT_TAGS.index("no voice") == 5


def test_gtzan_genres():
    assert GTZAN_GENRES == ("blues", "classical", "country", "disco", "hiphop",
                            "jazz", "metal", "pop", "reggae", "rock")


def test_label_sets_ship_as_package_data():
    assert {"mtat_top50", "gtzan_genres"} <= set(available_label_sets())
    assert load_labels("mtat_top50") is MTAT_TAGS


def test_unknown_label_set_names_the_known_ones():
    with pytest.raises(KeyError, match="mtat_top50"):
        load_labels("audioset")


def test_top_k_pairs_highest_scores_with_labels():
    scores = [0.0] * 50
    scores[MTAT_TAGS.index("rock")], scores[MTAT_TAGS.index("guitar")] = 0.9, 0.8
    assert top_k(scores, MTAT_TAGS, k=2) == [("rock", 0.9), ("guitar", 0.8)]


def test_top_k_refuses_a_label_set_of_another_size():
    with pytest.raises(ValueError, match="10 scores but 50 labels"):
        top_k([0.1] * 10, MTAT_TAGS)
