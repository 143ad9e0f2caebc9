"""Only here for the optional C accelerator; all metadata lives in pyproject.toml."""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "dagster_project.slowlog._speedups",
            sources=["dagster_project/slowlog/_speedups.c"],
            extra_compile_args=["-O3"],
            optional=True,  # no compiler: the pure-Python path is used, same results
        )
    ]
)
