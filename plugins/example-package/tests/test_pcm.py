"""The plugin keeps memtech's memory-plugin contract, and its error model is what it says."""

from memtech.testing import check_memory_plugin
from memtech_pcm import Pcm, PcmParams


def test_pcm_keeps_the_memory_plugin_contract():
    check_memory_plugin(Pcm)


def test_pcm_flips_written_bits_at_its_ber():
    model = Pcm(PcmParams(technology="pcm", ber=1e-3)).error_model()
    assert model.write_ber_0to1 == model.write_ber_1to0 == 1e-3
