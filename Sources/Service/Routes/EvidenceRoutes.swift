import Foundation
import HTTPTypes
import Hummingbird
import Ledger
import LedgerCore
import NIOCore

/// The log as a transparency log (product spec §9): the latest signed checkpoint and the tiles, laid
/// out as C2SP `tlog-tiles` so existing clients read them, and inclusion and consistency proofs. None
/// needs an actor: the log holds no personal value, and the same bytes are in `/v1/events`.
extension LedgerAPI {
    func registerEvidenceRoutes(on router: Router<BasicRequestContext>) {
        router.get("/v1/log/checkpoint") { _, _ in
            guard let checkpoint = try await ledger.latestCheckpoint() else { throw APIError.notFound("no checkpoint is signed yet") }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: checkpoint.note)))
        }

        // tile/<L>/<N>[.p/<W>] and tile/entries/<N>[.p/<W>]: immutable once they exist.
        router.get("/v1/log/tile/**") { _, context in
            guard let address = TileAddress(path: context.parameters.getCatchAll()) else {
                throw APIError.notFound("not a tile path: tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>], N in x001/234 groups")
            }
            guard let bytes = try await ledger.tile(address) else { throw APIError.notFound("the tree holds no such tile yet") }
            return Response(
                status: .ok, headers: [.contentType: "application/octet-stream", .cacheControl: "public, max-age=31536000, immutable"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }

        // ?seq=&size= (size: the latest checkpoint's when not given).
        router.get("/v1/proofs/inclusion") { request, _ in
            guard let seq = try positiveInteger(request, "seq") else { throw APIError.invalid("seq", "is required: the seq of the event to prove") }
            let size = try await treeSizeOrLatest(request, "size")
            guard let proof = try await ledger.inclusionProof(seq: seq, size: size) else {
                throw APIError.notFound("no leaf \(seq) in a tree of \(size): seq must be at most size, and size at most the tree's size")
            }
            return Reply.json([
                "seq": .int(Int64(proof.seq)), "leaf_index": .int(Int64(proof.seq - 1)), "tree_size": .int(Int64(proof.treeSize)),
                "hashes": MerkleTree.base64(proof.hashes),
            ])
        }

        // ?from=&to= (to: the latest checkpoint's size when not given).
        router.get("/v1/proofs/consistency") { request, _ in
            guard let from = try positiveInteger(request, "from") else { throw APIError.invalid("from", "is required: the smaller tree size") }
            let to = try await treeSizeOrLatest(request, "to")
            guard let hashes = try await ledger.consistencyProof(from: from, to: to) else {
                throw APIError.notFound("no consistency proof from \(from) to \(to): from must be at most to, and to at most the tree's size")
            }
            return Reply.json([
                "from": .int(Int64(from)), "to": .int(Int64(to)), "hashes": MerkleTree.base64(hashes),
            ])
        }
    }

    /// A seq or tree size from the query: decimal, from 1 to 2^62 (so it is an exact JSON integer). One
    /// past the tree is a 404 (the request is well formed; the tree has not grown that far).
    private func positiveInteger(_ request: Request, _ name: String) throws -> UInt64? {
        guard let raw = request.query(name) else { return nil }
        guard raw.utf8.count <= 19, raw.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = UInt64(raw), value >= 1, value <= 1 << 62 else {
            throw APIError.invalid(name, "must be a decimal integer from 1 to 2^62")
        }
        return value
    }

    /// As above; when absent, the size of the latest checkpoint (what a client can check against).
    private func treeSizeOrLatest(_ request: Request, _ name: String) async throws -> UInt64 {
        if let given = try positiveInteger(request, name) { return given }
        guard let checkpoint = try await ledger.latestCheckpoint() else { throw APIError.notFound("no checkpoint is signed yet") }
        return checkpoint.size
    }
}
