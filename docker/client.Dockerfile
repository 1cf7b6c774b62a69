# A framework client: pesos (v0) in the venv compat-tests built on the host
# (same Python 3.11 from bookworm), with our test clients.
FROM mesos-rs-base
COPY venv-pesos /opt/venv-pesos
COPY clients /opt/clients
ENV PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python
WORKDIR /opt/clients
ENTRYPOINT ["/opt/venv-pesos/bin/python"]
