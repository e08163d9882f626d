from importlib import metadata

try:
    __version__ = metadata.version("shopseg")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+unknown"


#: Libraries whose versions decide a run's results, recorded with every run
#: and every saved model.
LIBRARIES = ("duckdb", "numpy", "pandas", "scikit-learn", "scipy", "skops")


def library_versions(names=LIBRARIES):
    """Return the installed version of each library (None when absent)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
