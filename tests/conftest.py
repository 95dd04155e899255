# pytester restores sys.modules after each test; pandas' Arrow extension types register globally
# with pyarrow once, so they are imported here, before any test, not inside a pytester test.
import pandas.core.arrays.arrow.extension_types  # noqa: F401

pytest_plugins = ["pytester"]
