#pragma once
/// \file
/// The umbrella header: refs, atoms, transactions, the client, the policies and the embedded
/// coordinator. The ZooKeeper model is separate (<dstm/zookeeper.hpp>, target dstm::zookeeper)
/// so that programs without it need no ZooKeeper C client.

#include "dstm/atom.hpp"
#include "dstm/client.hpp"
#include "dstm/coordinator/any.hpp"
#include "dstm/coordinator/concept.hpp"
#include "dstm/coordinator/interface.hpp"
#include "dstm/coordinator/types.hpp"
#include "dstm/embedded.hpp"
#include "dstm/embedded_client.hpp"
#include "dstm/error.hpp"
#include "dstm/ref.hpp"
#include "dstm/serial/binary.hpp"
#include "dstm/serial/concept.hpp"
#include "dstm/serial/json.hpp"
#include "dstm/storage/concept.hpp"
#include "dstm/txn.hpp"
