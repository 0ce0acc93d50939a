"""One InferenceSettings per job: its defaults are the flags', a bad field is named, and the old
keyword arguments of the Tagger and the library job build the same object."""
import dataclasses

import pytest

from fcn4.base.errors import SettingError
from fcn4.inference import InferenceSettings


@pytest.mark.parametrize("field, bad", [("window", "all"), ("aggregate", "median"), ("long_files", "cut"),
                                        ("hop_seconds", -1.0), ("min_seconds", float("nan")), ("max_hours", 0),
                                        ("decode_timeout", 0), ("top_k", -1), ("top_k", 1.5)])
def test_a_bad_setting_is_refused_naming_its_field(field, bad):
    with pytest.raises(SettingError, match=field):
        InferenceSettings(**{field: bad})


def test_old_keyword_arguments_replace_the_fields_of_the_settings_they_are_given_with():
    base = InferenceSettings(window="track", hop_seconds=5.0)
    assert InferenceSettings.of(base, aggregate="max") == InferenceSettings(window="track", hop_seconds=5.0,
                                                                             aggregate="max")
    assert InferenceSettings.of() == InferenceSettings() and InferenceSettings.of(base) is base
    with pytest.raises(TypeError, match="windows"):
        InferenceSettings.of(windows="track")


def test_the_flags_defaults_are_the_settings_defaults_and_fill_it_once():
    from fcn4.cli import build_parser
    from fcn4.cli.tag import settings_from_args

    defaults = InferenceSettings()
    for command in ("tag", "embed"):
        args = build_parser().parse_args([command, "x.wav", "-o", "out.npz"])
        assert settings_from_args(args) == defaults
    args = build_parser().parse_args(["tag", "x.wav", "--window", "track", "--hop", "2.5", "--top-k", "3"])
    assert settings_from_args(args) == dataclasses.replace(defaults, window="track", hop_seconds=2.5, top_k=3)


def test_the_library_job_takes_the_same_settings_and_its_own_options():
    from fcn4.library.results import LibraryJobOptions

    assert LibraryJobOptions().rows_per_part == 1000
    for bad in ({"rows_per_part": 0}, {"actors": 0}, {"rows_per_part": True}):
        with pytest.raises(SettingError, match=next(iter(bad))):
            LibraryJobOptions(**bad)


def test_a_store_records_the_settings_its_rows_depend_on_and_gives_them_back():
    from types import SimpleNamespace

    from fcn4.audio.frontend import DEFAULT_FRONT_END
    from fcn4.library.store_settings import StoreSettings

    tagger = SimpleNamespace(weights="w.ckpt", spec=None, labels=("a", "b"), front_end=DEFAULT_FRONT_END,
                             backend=SimpleNamespace(info=SimpleNamespace(num_features=4)), min_seconds=3.39)
    settings = InferenceSettings(window="track", hop_seconds=10.0, aggregate="max", max_hours=2.0, top_k=1)
    stored = StoreSettings.for_run(tagger, settings, embeddings=True)
    assert (stored.window, stored.hop_seconds, stored.aggregate, stored.min_seconds, stored.max_hours,
            stored.top_k, stored.embeddings) == ("track", 10.0, "max", 3.39, 2.0, 1, True)
    assert stored.inference == dataclasses.replace(settings, min_seconds=3.39)
