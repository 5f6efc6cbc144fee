"""Build the C++ matching core (market/ladder.pyx); everything else is in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("market.ladder", ["market/ladder.pyx"], language="c++",
                   extra_compile_args=["-O3", "-std=c++17"])],
        compiler_directives={"language_level": 3},
    ),
)
