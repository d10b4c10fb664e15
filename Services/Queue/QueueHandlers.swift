import Contracts
import Messaging

/// The methods the queue answers, and which function answers each (`queue.ping` is the server's own).
enum QueueHandlers {
    static func handlers(_ room: WaitingRoom) -> RPCHandlers {
        var handlers = RPCHandlers()
        handlers.on(QueueAPI.issue, room.issue)
        handlers.on(QueueAPI.status, room.status)
        handlers.on(QueueAPI.validate, room.validate)
        handlers.on(QueueAPI.expire, room.expire)
        return handlers
    }
}
