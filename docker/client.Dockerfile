# A framework client: pesos (v0) in the venv compat-tests built on the host
# (same Python 3.11 minor as bookworm's), kazoo for following the leader in
# ZooKeeper, and our test clients.
FROM mesos-rs-base
COPY venv-pesos /opt/venv-pesos
COPY kazoo /opt/kazoo
COPY clients /opt/clients
# Debian's own sitecustomize shadows the venv's (tornado 4 on Python 3.11):
# run the venv's from a .pth file instead.
RUN echo "import runpy; runpy.run_path('/opt/venv-pesos/lib/python3.11/site-packages/sitecustomize.py')" \
      >/opt/venv-pesos/lib/python3.11/site-packages/zz-mesos-rs-sitecustomize.pth
ENV PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python
WORKDIR /opt/clients
ENTRYPOINT ["/opt/venv-pesos/bin/python"]
