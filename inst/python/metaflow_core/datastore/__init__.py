"""Bytes: storage backends, the content-addressed store, task datastores."""

from .flow_datastore import FlowDataStore
from .serializers import PICKLE, RDS, RObject
from .storage import LocalStorage, Storage, get_storage
from .task_datastore import TaskDataStore
