"""A publisher's released checkpoint (weights_url): downloaded by the workflow, read in its key layout."""
import torch
from helpers import SYNTHETIC, job_counts, load_preset, run_snakemake

from vitmed.models.factory import build_model, create_model

TOY = {"pretrained_cfg_overlay": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}
KWARGS = {**TOY, "img_size": 32, "patch_size": 8, "dynamic_img_size": True}


def blip_checkpoint(path, seed=0):
    """A checkpoint in BLIP's released layout: {"model": ...} with the image encoder under
    visual_encoder.*, its momentum copy under visual_encoder_m.*, and a text encoder."""
    torch.manual_seed(seed)
    encoder, momentum = create_model("test_vit", 0, None, KWARGS), create_model("test_vit", 0, None, KWARGS)
    state = {**{f"visual_encoder.{k}": v for k, v in encoder.state_dict().items()},
             **{f"visual_encoder_m.{k}": v for k, v in momentum.state_dict().items()},
             "text_encoder.embeddings.word_embeddings.weight": torch.randn(10, 8)}
    torch.save({"model": state}, path)
    return encoder


def test_blips_image_encoder_is_read_from_its_released_layout(tmp_path):
    encoder = blip_checkpoint(tmp_path / "model_base.pth")
    model = build_model({"timm_name": "test_vit", "family": "vit", "kwargs": KWARGS}, 3,
                        str(tmp_path / "model_base.pth"))
    for key, value in encoder.state_dict().items():  # the encoder, not its momentum copy
        torch.testing.assert_close(model.state_dict()[key], value)
    assert model.head.weight.shape == (3, 64)


def test_the_workflow_downloads_the_checkpoint_once_for_every_run_that_starts_from_it(publisher, tmp_path):
    served, url = publisher  # Salesforce's storage, on 127.0.0.1
    encoder = blip_checkpoint(served / "model_base.pth")
    config = load_preset(*SYNTHETIC)
    config["models"]["ViT-toy"]["weights_url"] = f"{url}/model_base.pth"
    config.update(inits=["random", "pretrained"], downloads_dir=str(tmp_path / "downloads"))
    config["ablations"]["init"] = config["analysis"]["saliency"]["init"] = "pretrained"
    work = tmp_path / "work"
    work.mkdir()
    planned = run_snakemake(work, config, "-n")
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert job_counts(planned.stdout + planned.stderr)["fetch_weights"] == 1
    target = tmp_path / "downloads" / "weights" / "model_base.pth"
    fetched = run_snakemake(work, config, str(target), "--cores", "1")
    assert fetched.returncode == 0, fetched.stderr[-3000:]
    assert target.read_bytes() == (served / "model_base.pth").read_bytes()
    assert not list(target.parent.glob("*.part"))
    model = build_model(config["models"]["ViT-toy"], 5, str(target))
    torch.testing.assert_close(model.blocks[2].mlp.fc1.weight, encoder.blocks[2].mlp.fc1.weight)
