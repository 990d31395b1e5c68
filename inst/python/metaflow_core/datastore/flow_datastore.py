"""A flow's slice of the datastore: its blobs, tasks and ``latest_run``."""

from .cas import ContentAddressedStore
from .storage import get_storage
from .task_datastore import TaskDataStore


class FlowDataStore(object):
    def __init__(self, flow_name, storage=None, ds_type="local", ds_root=None):
        self.flow_name = flow_name
        self.storage = storage or get_storage(ds_type, ds_root)
        self.ca_store = ContentAddressedStore(self.storage, "%s/data" % flow_name)

    @property
    def ds_type(self):
        return self.storage.TYPE

    @property
    def ds_root(self):
        return self.storage.root

    def task(self, run_id, step_name, task_id, attempt=None, mode="r"):
        return TaskDataStore(self, run_id, step_name, task_id, attempt=attempt, mode=mode)

    def task_ids(self, run_id, step_name):
        return [
            name
            for name, is_file in self.storage.list_dir(
                "%s/%s/%s" % (self.flow_name, run_id, step_name)
            )
            if not is_file and not name.startswith("_")
        ]

    def get_latest_run(self):
        raw = self.storage.load_bytes("%s/latest_run" % self.flow_name)
        return raw.decode().strip() if raw else None

    def set_latest_run(self, run_id):
        self.storage.save_bytes("%s/latest_run" % self.flow_name, str(run_id).encode())
