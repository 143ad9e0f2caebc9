"""Only here for the optional C accelerator; all metadata lives in pyproject.toml."""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "dagster_project.slowlog._speedups",
            sources=["dagster_project/slowlog/_speedups.c"],
            # included by _speedups.c: an edit to it alone must rebuild the extension too
            depends=["dagster_project/slowlog/_speedups_pg.c"],
            extra_compile_args=["-O3"],
            optional=True,  # no compiler: the pure-Python path is used, same results
        )
    ]
)
