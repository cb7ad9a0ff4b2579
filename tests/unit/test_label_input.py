"""CP2K templates (cp2k-input-tools against the installed CP2K's schema), profiles, config."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from hpcml.config import parse_config
from hpcml.errors import ConfigError, DataError
from hpcml.label.cp2k.input import CP2KTemplate, check_cells, render_input
from hpcml.label.cp2k.program import CP2KNotFoundError, find_cp2k
from hpcml.label.profiles import load_profile
from hpcml.label.templates import XTB_TEMPLATE, builtin_template_path

REPO = Path(__file__).resolve().parents[2]
needs_cp2k = pytest.mark.skipif(shutil.which("cp2k.psmp") is None, reason="cp2k.psmp not installed")


@pytest.fixture(scope="module")
def program():
    return find_cp2k()


@pytest.fixture(scope="module")
def xmlspec(program):
    return program.xml_spec()


def test_builtin_template_is_the_shipped_file():
    assert (REPO / "inputs" / "cp2k" / "xtb.inp").read_text() == XTB_TEMPLATE
    assert builtin_template_path().read_text() == XTB_TEMPLATE


@needs_cp2k
def test_program_version(program):
    assert program.version == "2023.1" or program.version[:4].isdigit()
    assert Path(program.data_dir, "BASIS_MOLOPT").is_file()


def test_cp2k_not_found_says_how_to_install():
    with pytest.raises(CP2KNotFoundError, match="apt-get install cp2k"):
        find_cp2k("/nonexistent/cp2k.psmp")


@needs_cp2k
def test_fill_and_render_xtb(xmlspec):
    tpl = CP2KTemplate.load(builtin_template_path(), xmlspec)
    assert tpl.is_xtb and tpl.method == "GFN1-xTB"
    coord = np.array([[0.0, 0.0, 0.0], [0.757, 0.586, 0.0], [-0.757, 0.586, 0.0]])
    text = render_input(tpl.fill(np.eye(3) * 5, coord, ["O", "H", "H"], virial=True),
                        xmlspec)
    assert "PROJECT_NAME hpcml" in text and "RUN_TYPE ENERGY_FORCE" in text
    assert "STRESS_TENSOR ANALYTICAL" in text and "&FORCES ON" in text
    assert "H -0.7570000000 0.5860000000 0.0000000000" in text
    assert "A 5.0 0.0 0.0" in text
    # the filled input parses back to the same structure
    back = CP2KTemplate.from_tree(tpl.fill(np.eye(3) * 5, coord, ["O", "H", "H"]), "x", xmlspec)
    assert back.tree["force_eval"]["subsys"]["coord"]["*"][0].startswith("O 0.0")
    assert tpl.tree == CP2KTemplate.load(builtin_template_path(), xmlspec).tree  # not mutated


@needs_cp2k
def test_pbe_template_checks(xmlspec, program, tmp_path):
    tpl = CP2KTemplate.load(REPO / "inputs" / "cp2k" / "pbe-d3.inp", xmlspec)
    assert tpl.method == "PBE-D3/DZVP-MOLOPT-SR-GTH"
    tpl.check_elements(["O", "H"], program.data_dir)
    with pytest.raises(ConfigError, match=r"no &KIND section for element\(s\) \['Na'\]"):
        tpl.check_elements(["O", "H", "Na"], program.data_dir)
    text = (REPO / "inputs" / "cp2k" / "pbe-d3.inp").read_text()
    bad = tmp_path / "bad.inp"
    bad.write_text(text.replace("BASIS_MOLOPT", "BASIS_NOPE"))
    with pytest.raises(ConfigError, match="'BASIS_NOPE' not found"):
        CP2KTemplate.load(bad, xmlspec).check_elements(["O"], program.data_dir)
    bad.write_text(text.replace("BASIS_SET DZVP-MOLOPT-SR-GTH\n      POTENTIAL GTH-PBE-q6",
                                "BASIS_SET TZV9P-NOPE\n      POTENTIAL GTH-PBE-q6"))
    with pytest.raises(ConfigError, match="basis set 'TZV9P-NOPE' for element O is not in"):
        CP2KTemplate.load(bad, xmlspec).check_elements(["O"], program.data_dir)


@needs_cp2k
def test_xtb_elements_without_parameters(xmlspec, program):
    tpl = CP2KTemplate.load(builtin_template_path(), xmlspec)
    tpl.check_elements(["O", "H", "Rn"], program.data_dir)
    with pytest.raises(ConfigError, match=r"no parameters for \['U'\]"):
        tpl.check_elements(["O", "U"], program.data_dir)


@needs_cp2k
@pytest.mark.parametrize("old, new, message", [
    ("MAX_SCF 100", "MAX_SCFF 100",
     r"bad.inp:\d+: CP2K template: invalid keyword 'MAX_SCFF'.* in &SCF; did you mean MAX_SCF"),
    ("&MIXING", "&MIXINGG",
     r"bad.inp:\d+: CP2K template: invalid section 'MIXINGG' in &SCF; did you mean MIXING"),
])
def test_unknown_section_or_keyword_points_to_it(xmlspec, tmp_path, old, new, message):
    bad = tmp_path / "bad.inp"
    text = XTB_TEMPLATE.replace(old, new).replace("&END MIXING", "&END " + new[1:]
                                                   if new.startswith("&") else "&END MIXING")
    bad.write_text(text)
    with pytest.raises(ConfigError, match=message):
        CP2KTemplate.load(bad, xmlspec)
    line = int(str(pytest.raises(ConfigError, CP2KTemplate.load, bad, xmlspec).value)
               .split(":")[1])
    assert new in text.splitlines()[line - 1]


def test_frames_without_cell():
    cells = np.stack([np.eye(3) * 5, np.zeros((3, 3))])
    check_cells(cells[:1])
    with pytest.raises(DataError, match=r"frames \[1\] have no cell"):
        check_cells(cells)


def test_profiles():
    local = load_profile("local")
    assert local.argv("/usr/bin/cp2k.psmp", "cp2k.inp", "cp2k.log", 1, 2) == [
        "/usr/bin/cp2k.psmp", "-i", "cp2k.inp", "-o", "cp2k.log"]
    env = local.environment(1, 2)
    assert env["OMP_NUM_THREADS"] == "2" and not any(k.startswith("OMPI_") for k in env)
    argv = load_profile("slurm").argv("cp2k.psmp", "a b.inp", "o.log", 32, 2)
    assert argv[:2] == ["srun", "--exact"] and "a b.inp" in argv and "32" in argv
    for name in ("pbs", "mpirun"):
        assert load_profile(name).argv("cp2k", "i", "o", 4, 1)
    with pytest.raises(ConfigError, match="did you mean slurm"):
        load_profile("slurmm")


def test_profile_file_errors(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("command: '{cp2k} -i {input} -o {output} -n {nodes}'\n")
    with pytest.raises(ConfigError, match="bad placeholder 'nodes'"):
        load_profile(str(bad))


def test_label_config_section():
    cfg = parse_config({"label": {"virial": True, "ratio_failed": 0.1}})
    assert cfg.label.virial and cfg.label.profile == "local"
    assert cfg.label.retries[0] == {"force_eval": {"dft": {"scf": {"max_scf": 300}}}}
    with pytest.raises(ConfigError, match="ratio_faild"):
        parse_config({"label": {"ratio_faild": 0.1}})


@needs_cp2k
@pytest.mark.parametrize("name", ["label-xtb.yaml", "label-pbe.yaml"])
def test_shipped_label_inputs_render_with_every_retry(name, xmlspec, program):
    from hpcml.config import load_config

    sec = load_config(REPO / "inputs" / name).label
    tpl = CP2KTemplate.load(sec.template, xmlspec)
    tpl.check_elements(["O", "H"], program.data_dir)
    load_profile(sec.profile)
    for patch in [None, *sec.retries]:
        text = render_input(tpl.fill(np.eye(3) * 5, np.zeros((1, 3)), ["O"], sec.virial, patch),
                            xmlspec)
        assert "&COORD" in text
