from setuptools import find_packages, setup

# Run time: what a Spark Python worker needs to classify alerts (no TensorFlow: models run in ONNX Runtime).
# The ranges reach down to Fink's own images (Spark 3.5, numpy/pandas 1.x, onnxruntime 1.16); .ci/run tests
# the oldest (.ci/oldest.txt) and the newest versions allowed.
RUNTIME = [
    "pyspark>=3.5,<4.2",            # 3.5 runs on Java 8/11/17, 4.x needs Java 17
    "pandas>=1.5,<3",               # PySpark warns on pandas 3
    "numpy>=1.24,<3",               # 1.24.2: onnxruntime 1.16
    "pyarrow>=10,<27",              # 10: the first with Python 3.11 wheels
    "scipy>=1.9,<2",                # LAPACK potrf/potri of the batched GP engine
    "onnxruntime>=1.16,<2",         # 1.16.3 is in Fink's ZTF image; graphs are exported with opset 17
    "fastavro>=1.9,<2",             # reads Avro alert files: fink-client's (ZTF), Rubin alert packets
    "cramjam>=2.7,<3",              # snappy codec of those files
    "threadpoolctl>=3.1,<4",        # one BLAS thread for the GP engine's small LAPACK calls
]
EXTRAS = {
    # Training, the ONNX export and the Keras engine; fink-gr-noz, the published Fink model, too.
    "train": [
        "tensorflow>=2.16,<2.21",
        "keras>=3.5,<4",            # the models this project trains (weights + architecture in code)
        "tf_keras>=2.16,<2.21",     # the only loader of the published Fink SavedModel under TF >= 2.16
        "h5py>=3.10,<4",            # Keras weight files
        "tf2onnx>=1.17,<2",         # keras.Model.export(format="onnx") with the TensorFlow backend
        "onnx>=1.16,<2",            # the graph rewrites after the export (onnx_export)
        "fink-science>=5,<8",       # ships the pre-trained Fink t2 weights
        "astropy>=6,<8",            # luminosity distances of the redshift augmentation (augment)
    ],
    # Evaluation plots, the reference GP engine and learner, and the benchmarks' worker memory.
    "evaluate": [
        "matplotlib>=3.7,<4",
        "george>=0.4.3,<0.5",
        "psutil>=5.9,<8",
        "scikit-learn>=1.2,<2",     # gradient-boosted trees of fink_t2.baseline, the second learner
    ],
}
EXTRAS["test"] = ["pytest>=8,<10", "hypothesis>=6.100,<7", *EXTRAS["evaluate"]]

setup(
    name="fink-t2",
    version="0.2.0",
    description="Real-time classification of ZTF and Rubin alerts with the t2 transformer: a Fink science module",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["fink_t2", "fink_t2.*"]) + ["fink_t2.model_files"],
    # The model cards and weights live in data/models/ at the top of the repository; installed, they are
    # the package data of fink_t2.model_files (found by fink_t2.models.bundled_model_dir); an ensemble keeps
    # each member's weights in a folder of its own (t2/NAME/seedS/).
    package_dir={"fink_t2.model_files": "data/models"},
    package_data={"fink_t2": ["data/*.parquet", "data/*.properties"],
                  "fink_t2.model_files": ["t2/*.json", "t2/*/*", "t2/*/*/*"]},
    install_requires=RUNTIME,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["fink-t2=fink_t2.cli:main"]},
    classifiers=["Programming Language :: Python :: 3", "Topic :: Scientific/Engineering :: Astronomy"],
)
