"""Run a repo's declarative pipeline on a laptop: `python -m lakeforge.local_pipeline run`.

`spark-pipelines` needs two things a repo cannot state portably: an absolute storage URI, and
schemas that already exist (it refuses `CREATE SCHEMA` inside a pipeline). This wrapper resolves
the spec's storage next to the spec, creates the layer schemas in a local Hive metastore, then
runs `spark-pipelines` against that same metastore, so wiring mistakes show up before deploying.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from lakeforge.catalog import CatalogHelper
from lakeforge.config import ConfigLoader
from lakeforge.errors import LakeforgeError
from lakeforge.pipelines import CONFIG_DIR_CONF, ENV_CONF

RESOLVED_SPEC = ".spark-pipeline.resolved.yml"


def resolve_spec(spec_path: Path) -> tuple[Path, dict]:
    """Write the spec with an absolute `file://` storage root beside the original; return it."""
    try:
        spec = yaml.safe_load(spec_path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise LakeforgeError(f"{spec_path}: no pipeline spec here; run from the repo root or pass --spec") from None
    storage = str(spec.get("storage", ".spark-pipelines/storage"))
    if "://" not in storage:
        spec["storage"] = (spec_path.parent / storage).resolve().as_uri()
    resolved = spec_path.parent / RESOLVED_SPEC
    resolved.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return resolved, spec


def hive_conf(root: Path) -> dict[str, str]:
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str((root / "spark-warehouse").resolve()),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={(root / 'metastore_db').resolve()};create=true"
        ),
    }


def create_schemas(root: Path, env: str, config_dir: Path) -> list[str]:
    """Create the layer schemas in the local metastore that `spark-pipelines` will use."""
    from lakeforge.session import SparkSessionFactory

    config = ConfigLoader.load(env, config_dir)
    conf = {**config.spark.config, **hive_conf(root)}
    spark = SparkSessionFactory.create_local(app_name="lakeforge-schemas", conf=conf)
    try:
        schemas = CatalogHelper(config).schemas()
        for schema in schemas:
            spark.sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        return schemas
    finally:
        spark.stop()


def run(command: str, spec_path: Path, extra: Sequence[str] = ()) -> int:
    resolved, _ = resolve_spec(spec_path)
    root = spec_path.parent.resolve()
    # A child process: embedded Derby lets one JVM at a time open the metastore, and a stopped
    # session's JVM lives on until its Python process exits.
    subprocess.run(
        [sys.executable, "-m", "lakeforge.local_pipeline", "create-schemas", "--spec", str(spec_path)],
        check=True,
    )
    bin_dir = Path(sys.executable).parent
    cli = _spark_pipelines_cli()
    args = [str(cli), command, "--spec", str(resolved)]
    for key, value in hive_conf(root).items():
        args += ["--conf", f"{key}={value}"]
    env_vars = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([*args, *extra], cwd=root, env=env_vars, check=False).returncode


def _spark_pipelines_cli() -> Path:
    """The `spark-pipelines` launcher shipped inside pyspark (works from any venv that sees it)."""
    try:
        import pyspark
    except ImportError:
        raise LakeforgeError("pyspark is not installed: `pip install 'pyspark[pipelines]'`") from None
    cli = Path(pyspark.__file__).parent / "bin" / "spark-pipelines"
    if not cli.exists():
        raise LakeforgeError(f"{cli} is missing: install pyspark 4.1 or newer with `pip install 'pyspark[pipelines]'`")
    return cli


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the repo's declarative pipeline on local Spark.")
    parser.add_argument("command", choices=["run", "dry-run", "create-schemas"])
    parser.add_argument("--spec", default="spark-pipeline.yml")
    args, extra = parser.parse_known_args(argv)
    try:
        if args.command == "create-schemas":
            spec_path = Path(args.spec)
            _, spec = resolve_spec(spec_path)
            root = spec_path.parent.resolve()
            configuration = spec.get("configuration") or {}
            env = str(configuration.get(ENV_CONF, "local"))
            create_schemas(root, env, Path(configuration.get(CONFIG_DIR_CONF, root / "config")))
            raise SystemExit(0)
        code = run(args.command, Path(args.spec), extra)
    except LakeforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    raise SystemExit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
