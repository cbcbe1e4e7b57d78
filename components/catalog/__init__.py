"""The model catalog: each `models/<name>/model.yaml` validated as a ModelSpec (`spec`), each
served version's SavedModel checked against its gate record (`gate_record`), and every model
folder read and reported together before any resource exists (`load`).

No Pulumi resources and no TensorFlow here (the gate, commands/gate.py, writes the records). May
import components.facts only.
"""
