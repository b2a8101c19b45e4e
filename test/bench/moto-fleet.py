# moto_server for the fleet bench (test/bench/fleet-renew.ts), with three
# changes: TransactWriteItems snapshots only the items it touches instead of
# the whole table, and transactions run one at a time; a Query of the table
# (not of an index) looks at its own partition only; and an answer's
# attribute values are serialized without walking the members they lack.
#
# Why: moto 5.2.1's transact_write_items deep-copies the whole table once per
# item of the transaction, to roll back on cancellation
# (moto/dynamodb/models/__init__.py). Its cost grows with the table: measured
# here, a 6-put transaction took 7 ms on an empty table, 834 ms at 5,000
# items, 3 s at 20,000 and 16 s at 50,000, past the broker's 2 s store
# timeout. A fleet of 10,000 validators holds well over 100,000 items, so it
# cannot be seeded on stock moto; real DynamoDB's cost does not depend on the
# table's size. While it copies, moto's threaded server runs other requests, so
# concurrent commits can also fail (test/state-stores/backends.ts). What reads
# (GetItem, what a renewal does) answer is untouched; only the serializing of
# the answer is faster (below).
#
# Semantics kept: all or nothing (a cancelled transaction restores every item
# it touched, as moto does), conditions checked by moto's own code. Serialising
# transactions is what DynamoDB's serializable transactions promise anyway.
#
# Query: moto 5.2.1's Table.query collects its candidates from all_items(),
# which lists and sorts every item of the table (moto/dynamodb/models/table.py),
# so one Query of a 3-item partition took 4 s at 4,000 validators, and the
# broker's checkpoint reads (latestCheckpoint, chainHeads) timed out; DynamoDB
# reads only the partition. Here all_items() answers, for the duration of one
# table Query, that partition's items in sort-key order, which is what the
# stock code then keeps of the whole table anyway; filters, pages, limits and
# direction are moto's own code.
#
# Responses: moto 5.2.1 writes every answer through a generic, model-driven
# serializer (moto/core/serialize.py) that, for each member of each structure,
# asks six alias providers where its value might be, whether or not it is
# there. An AttributeValue has ten members and holds one, so each attribute
# of each item returned cost some sixty look-ups: 0.65 ms an item, 6.5 s for
# the one Query of the HEADS partition at 10,000 validators that every
# checkpoint reads (chainHeads). Past about 3,000 validators that read outlived
# the broker's 2 s store timeout, so every checkpoint failed and was tried
# again 10 s later, and moto spent most of a core on answers nobody waited for
# while the imports queued behind them (the seeding's fall to 2/s). Here an
# AttributeValue given as a plain dict of its own members (what
# moto.dynamodb's dynamo_to_dict builds) serializes the members it holds, each
# by moto's own code for its type (blobs base64, maps and lists recursing):
# the alias walk could only have found those same keys.
#
#   python moto-fleet.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)

import copy
import sys
import threading

import moto.dynamodb.models as models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.core.serialize import BaseJSONSerializer
from moto.server import main


class _TablesUncopied:
    """The `copy` moto.dynamodb.models sees: a table is not copied (transact_write_items below restores what it touched); anything else is."""

    @staticmethod
    def deepcopy(x, memo=None):
        return x if isinstance(x, Table) else copy.deepcopy(x, memo)


_stock = DynamoDBBackend.transact_write_items
_one_at_a_time = threading.Lock()


def _touched(backend, transact_items):
    for item in transact_items:
        _, op = next(iter(item.items()))
        table = backend.tables.get(op.get("TableName"))
        attrs = op.get("Key") or op.get("Item")
        if table is None or not attrs or table.hash_key_attr not in attrs:
            continue  # moto refuses it before writing anything
        h = DynamoType(attrs[table.hash_key_attr])
        r = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr and table.range_key_attr in attrs else None
        yield table, h, r, copy.deepcopy(table.get_item(h, r))


def transact_write_items(self, transact_items):
    with _one_at_a_time:
        saved = list(_touched(self, transact_items))
        try:
            return _stock(self, transact_items)
        except BaseException:
            for table, h, r, old in reversed(saved):
                if old is None:
                    table.delete_item(h, r)
                elif r is None:
                    table.items[h] = old
                else:
                    table.items[h][r] = old
            raise


_stock_query = Table.query
_stock_all_items = Table.all_items
_partition = threading.local()


def all_items(self):
    only = getattr(_partition, "items", None)
    if only is not None and only[0] is self:
        return only[1]
    return _stock_all_items(self)


def query(self, hash_key, *args, **kwargs):
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if index_name is not None or hash_key is None or not self.range_key_attr:
        return _stock_query(self, hash_key, *args, **kwargs)
    rows = self.items.get(hash_key) or {}
    _partition.items = (self, sorted(rows.values(), key=lambda x: x.range_key))
    try:
        return _stock_query(self, hash_key, *args, **kwargs)
    finally:
        _partition.items = None


_stock_structure = BaseJSONSerializer._serialize_type_structure


def _serialize_type_structure(self, serialized, value, shape, key):
    members = shape.members
    if shape.name != "AttributeValue" or type(value) is not dict or not value.keys() <= members.keys() or getattr(self._value_picker, "response_transformers", None):
        return _stock_structure(self, serialized, value, shape, key)
    wrapper = self.MAP_TYPE() if key else serialized
    for member_key, member_shape in members.items():
        member_value = value.get(member_key)
        if member_value is not None:
            member_shape.parent = shape
            self._serialize(wrapper, member_value, member_shape, member_key)
    if key:
        self._default_serialize(serialized, wrapper, shape, key)


models.copy = _TablesUncopied
DynamoDBBackend.transact_write_items = transact_write_items
Table.all_items = all_items
Table.query = query
BaseJSONSerializer._serialize_type_structure = _serialize_type_structure

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
