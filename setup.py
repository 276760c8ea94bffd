from setuptools import find_packages, setup

setup(
    name="fink-t2",
    version="0.1.0",
    description="Real-time classification of ZTF alerts with the t2 transformer: a Fink science module",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["fink_t2", "fink_t2.*"]),
    package_data={"fink_t2": ["data/*.parquet"]},
    install_requires=[
        "pyspark>=4.0,<4.2",        # Spark 4 needs Java 17
        "pandas>=2.2,<3",           # PySpark 4 warns on pandas 3
        "numpy>=2.0,<3",  # np.vecdot (batched dot products in the GP engine)
        "pyarrow>=15,<27",
        "tensorflow>=2.16,<2.21",
        "tf_keras>=2.16,<2.21",     # the only loader of the published Fink SavedModel under TF >= 2.16
        "keras>=3.5,<4",            # the models this project trains (weights + architecture in code)
        "h5py>=3.10,<4",            # Keras weight files
        "matplotlib>=3.7,<4",       # evaluation plots
        "george>=0.4.3,<0.5",       # reference GP engine
        "scipy>=1.11,<2",
        "fink-client>=8,<13",
        "fink-science>=5,<8",       # ships the pre-trained Fink t2 weights
        "fastavro>=1.9,<2",         # reads fink-client Avro alert files
        "cramjam>=2.7,<3",          # snappy codec of those files
        "psutil>=5.9,<8",           # benchmarks: memory of Spark's Python workers
        "threadpoolctl>=3.1,<4",    # one BLAS thread for the GP engine's small LAPACK calls, benchmarks, training
    ],
    extras_require={"test": ["pytest>=8,<10", "hypothesis>=6.100,<7"]},
    entry_points={"console_scripts": ["fink-t2=fink_t2.cli:main"]},
    classifiers=["Programming Language :: Python :: 3", "Topic :: Scientific/Engineering :: Astronomy"],
)
