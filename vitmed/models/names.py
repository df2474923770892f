"""The config's timm model names checked against timm's registry before any job runs.

Snakemake calls ``check_timm_names`` while it reads the workflow: an unknown architecture or
pretrained tag is then an error naming the config key, not a failure of the first job that
builds the model. Where Snakemake's own environment has no timm (jobs in conda environments),
the check is left to that first job.
"""
from __future__ import annotations


def timm_name_errors(configs: dict[str, dict], keys: dict[str, str]) -> list[str]:
    """One message per model whose ``timm_name`` timm does not know; ``keys``: model -> its
    config key (``models.<name>`` or ``ablations.models.<name>``)."""
    import timm

    import vitmed.models.seem  # noqa: F401  registers vitmed's own architecture (seem_focal_t) with timm

    errors = []
    for name, cfg in configs.items():
        timm_name = cfg["timm_name"]
        architecture = timm_name.split(".", 1)[0]
        if not timm.is_model(architecture):
            errors.append(f"{keys[name]}.timm_name: {timm_name!r} is not a timm model (timm {timm.__version__}; "
                          "timm.list_models() lists them)")
        elif "." in timm_name and timm_name not in timm.list_pretrained(timm_name):
            errors.append(f"{keys[name]}.timm_name: {timm_name!r} names no pretrained weights of {architecture} "
                          f"(timm {timm.__version__} has {timm.list_pretrained(architecture + '.*')[:8]})")
    return errors


def check_timm_names(config: dict, configs: dict[str, dict]) -> bool:
    """Raise ``ValueError`` with the first unknown name of ``configs`` (the study's models and
    ablation models); False where timm cannot be imported here (nothing checked)."""
    try:
        import timm  # noqa: F401
    except ImportError:
        return False
    keys = {name: ("models" if name in config["models"] else "ablations.models") + f".{name}" for name in configs}
    errors = timm_name_errors(configs, keys)
    if errors:
        raise ValueError(errors[0] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
    return True
