"""Everything interp writes to disk: one atomic writer, run folders with resumable parts that
record their code, the activation store (safetensors shards + parquet index), markdown tables,
figures, and the versions of the code that produced a result. Never pickle."""

from interp.io.atomic import atomic_folder, atomic_replace, atomic_write, parquet_metadata, write_json, write_parquet
from interp.io.plots import by_layer_figure, plot_scores, save_figure
from interp.io.run_dir import RunDir
from interp.io.store import ActivationStore, chunk_ids, tensor_name
from interp.io.tables import markdown_table
from interp.io.versions import code_identity, describe_code, versions

__all__ = [
    "ActivationStore",
    "RunDir",
    "atomic_folder",
    "atomic_replace",
    "atomic_write",
    "by_layer_figure",
    "chunk_ids",
    "code_identity",
    "describe_code",
    "markdown_table",
    "parquet_metadata",
    "plot_scores",
    "save_figure",
    "tensor_name",
    "versions",
    "write_json",
    "write_parquet",
]
