# A Spark client and executor image: PyPI pyspark 3.5 (the venv compat-tests
# built on the host: same Python 3.11 from bookworm) with its Mesos backend,
# and our libmesos.so as the native library of Apache's Java bindings.
FROM mesos-rs-java
COPY venv-spark /opt/venv-spark
COPY libmesos.so /usr/local/lib/libmesos.so
RUN ln -s /opt/venv-spark/lib/python3.11/site-packages/pyspark /opt/spark
ENV MESOS_NATIVE_JAVA_LIBRARY=/usr/local/lib/libmesos.so \
    SPARK_HOME=/opt/spark \
    PYSPARK_PYTHON=/opt/venv-spark/bin/python \
    PATH=/opt/venv-spark/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENTRYPOINT ["/opt/spark/bin/spark-submit"]
