//! A network link with a fixed one-way delay, on loopback: the demo's batch reaches the
//! service through it, as the user's batch crossed the network to their region. The window in
//! which a whole-schedule version goes stale (from the read of the version to the commit of the
//! request that carries it) is mostly that network's round trip, not the service's own time.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Chunks in flight per direction before the reader waits for the writer.
const IN_FLIGHT: usize = 256;

/// Listens on an ephemeral loopback port and relays each connection to `target`, every byte
/// `one_way` after it arrived, in both directions, until `stop`. Returns the address to use.
pub async fn start(
    target: SocketAddr,
    one_way: Duration,
    stop: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = stop.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            let Ok((inbound, _)) = accepted else {
                continue;
            };
            let stop = stop.clone();
            tokio::spawn(async move {
                let Ok(outbound) = TcpStream::connect(target).await else {
                    return;
                };
                // The delay is the link's; Nagle's algorithm would add its own.
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let (in_read, in_write) = inbound.into_split();
                let (out_read, out_write) = outbound.into_split();
                tokio::select! {
                    () = stop.cancelled() => {}
                    _ = async {
                        tokio::join!(
                            delayed(in_read, out_write, one_way),
                            delayed(out_read, in_write, one_way)
                        )
                    } => {}
                }
            });
        }
    });
    Ok(addr)
}

/// Copies `from` to `to`, each chunk written `delay` after it was read, in order; when `from`
/// ends, `to` is shut down for writing once the chunks in flight are written.
async fn delayed(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    let (sender, mut chunks) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let read = async move {
        let mut buf = vec![0; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            if sender
                .send((Instant::now() + delay, buf[..n].to_vec()))
                .await
                .is_err()
            {
                return;
            }
        }
    };
    let write = async move {
        while let Some((due, bytes)) = chunks.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_cross_the_link_whole_in_order_and_no_sooner_than_its_delay() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = echo.accept().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            s.write_all(&got).await.unwrap();
        });
        let stop = CancellationToken::new();
        let one_way = Duration::from_millis(30);
        let addr = start(target, one_way, stop.clone()).await.unwrap();
        let sent: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let began = std::time::Instant::now();
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&sent).await.unwrap();
        s.shutdown().await.unwrap();
        let mut back = Vec::new();
        s.read_to_end(&mut back).await.unwrap();
        // There and back: two crossings of the link at the least.
        assert!(began.elapsed() >= 2 * one_way, "{:?}", began.elapsed());
        assert_eq!(back, sent);
        stop.cancel();
    }
}
