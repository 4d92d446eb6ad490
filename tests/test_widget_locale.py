"""The inline widget's language: `ps.show(model, locale=...)` syncs the `locale` trait; a language paramscope has
no catalogue for is refused with a clear error; without one the front end follows the page."""

from __future__ import annotations

import pytest
import traitlets

from tests.conftest import require


@pytest.fixture
def net():
    require("pytorch")
    from torch import nn

    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))


@pytest.mark.parametrize("asked", ["tr", "tr-TR", "tr_TR", "pt", "pt-BR", "pt_br", "en", "en-US", " tr "])
def test_a_language_with_a_catalogue_reaches_the_front_end(net, asked):
    import paramscope as ps

    widget = ps.show(net, name="net", locale=asked)
    assert widget.locale == asked.strip()
    state = widget.get_state()
    assert state["locale"] == asked.strip() and state["model_name"] == "net"


def test_without_a_locale_the_front_end_follows_the_page(net):
    import paramscope as ps

    assert ps.show(net, name="net").locale == ""
    assert ps.show(net, name="net", locale=None).locale == ""


@pytest.mark.parametrize("asked", ["de", "pt-PT", "tr-CY", "turkish", "tr;rm -rf", "12"])
def test_a_language_without_a_catalogue_is_refused(net, asked):
    import paramscope as ps
    from paramscope import widget as widget_module

    before = len(widget_module._OPEN)
    with pytest.raises(ValueError, match=r"is not a language paramscope speaks: use one of en, tr, pt-BR"):
        ps.show(net, name="net", locale=asked)
    assert len(widget_module._OPEN) == before  # no widget was made


def test_the_trait_switches_a_shown_widget_and_refuses_a_bad_language(net):
    import paramscope as ps

    widget = ps.show(net, name="net", locale="tr")
    assert widget.trait_metadata("locale", "sync") is True  # synced: the front end makes its explorer again
    widget.locale = "pt-BR"
    assert widget.get_state("locale") == {"locale": "pt-BR"}
    with pytest.raises((ValueError, traitlets.TraitError)):
        widget.locale = "fr"
    assert widget.locale == "pt-BR"
