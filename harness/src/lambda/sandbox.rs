//! What an environment runs as: a user of its own, with no capabilities, in the fabric's
//! namespace for it; a task folder it can read but not change; a `/tmp` of its own. The
//! folders live under the world's fabric folder, so a killed test process leaves none behind.

use std::{
    fs,
    os::unix::fs::{PermissionsExt, symlink},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
};

use tokio::process::Command;

use super::LambdaError;

/// The first user id environments run as: far above any user of the machine, spread by
/// process so two test processes on one machine do not share ids.
fn first_uid() -> u32 {
    2_000_000_000 + (std::process::id() % 20_000) * 10_000
}

/// The next user id of this process (each environment has one; 10 000 a process, then reused).
fn next_uid() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    first_uid() + NEXT.fetch_add(1, Ordering::Relaxed) % 10_000
}

/// Where an environment's code comes from.
#[derive(Debug)]
pub(crate) enum Code<'a> {
    /// A folder of unzipped code on this machine (linked into the task folder).
    Folder(&'a Path),
    /// A zip (the emulator runs elsewhere and sent it).
    Zip(&'a [u8]),
}

/// An environment's user and folders, removed on drop.
#[derive(Debug)]
pub(crate) struct Sandbox {
    uid: u32,
    root: PathBuf,
}

impl Sandbox {
    /// Makes the folders of a new environment under `parent`: `task` (the code, read-only to
    /// the function, which is `LAMBDA_TASK_ROOT`) and `tmp` (its own).
    pub(crate) fn create(parent: &Path, code: Code<'_>) -> Result<Self, LambdaError> {
        let uid = next_uid();
        fs::create_dir_all(parent)
            .map_err(|e| LambdaError::io("create the functions' folder", e))?;
        let root = parent.join(format!("env-{uid}"));
        // A folder left by an environment of the same id (ids are reused) goes first.
        let _ = fs::remove_dir_all(&root);
        let sandbox = Self { uid, root };
        sandbox.fill(code)?;
        Ok(sandbox)
    }

    fn fill(&self, code: Code<'_>) -> Result<(), LambdaError> {
        let io = |what: &str| {
            let what = format!("{what} under {}", self.root.display());
            move |e| LambdaError::io(what, e)
        };
        fs::create_dir(&self.root).map_err(io("create the environment's folder"))?;
        match code {
            Code::Folder(folder) => {
                link_tree(folder, &self.task_dir()).map_err(io("link the code"))?
            }
            Code::Zip(bytes) => unzip(bytes, &self.task_dir())?,
        }
        fs::create_dir(self.tmp_dir()).map_err(io("create /tmp"))?;
        let owner = Some(nix::unistd::Uid::from_raw(self.uid));
        let group = Some(nix::unistd::Gid::from_raw(self.uid));
        for path in [&self.root, &self.tmp_dir()] {
            nix::unistd::chown(path, owner, group)
                .map_err(|e| LambdaError::io("hand the folder to the function's user", e.into()))?;
            fs::set_permissions(path, fs::Permissions::from_mode(0o700))
                .map_err(io("restrict the folder"))?;
        }
        Ok(())
    }

    /// The user (and group) id the function runs as.
    pub(crate) fn uid(&self) -> u32 {
        self.uid
    }

    /// The code (`LAMBDA_TASK_ROOT`, the working directory).
    pub(crate) fn task_dir(&self) -> PathBuf {
        self.root.join("task")
    }

    /// The function's `/tmp` (`TMPDIR`).
    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// `program` inside `netns` (`ip netns exec`, which also mounts the namespace's
    /// `resolv.conf`), as the sandbox's user with every capability dropped, none inheritable
    /// and no way to gain any (`setpriv`, util-linux).
    pub(crate) fn command(&self, netns: &str, program: &Path) -> Command {
        let mut command = Command::new(crate::fabric::ip_tool());
        let id = self.uid.to_string();
        command
            .args(["netns", "exec", netns, "setpriv"])
            .arg(format!("--reuid={id}"))
            .arg(format!("--regid={id}"))
            .args([
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--no-new-privs",
                "--",
            ])
            .arg(program);
        command
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Recreates the tree `from` at `to`: folders made, files hard-linked (copied across
/// filesystems), symbolic links kept. Every file stays readable to the function's user.
pub(crate) fn link_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir(to)?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o755))?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            link_tree(&source, &target)?;
        } else if kind.is_symlink() {
            symlink(fs::read_link(&source)?, &target)?;
        } else {
            if fs::hard_link(&source, &target).is_err() {
                fs::copy(&source, &target)?;
            }
            let mut mode = fs::metadata(&target)?.permissions();
            if mode.mode() & 0o004 == 0 {
                mode.set_mode(mode.mode() | 0o444);
                fs::set_permissions(&target, mode)?;
            }
        }
    }
    Ok(())
}

/// Unpacks a zip into `to`, keeping the files' modes.
fn unzip(bytes: &[u8], to: &Path) -> Result<(), LambdaError> {
    fs::create_dir(to).map_err(|e| LambdaError::io("create the task folder", e))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o755))
        .map_err(|e| LambdaError::io("open the task folder", e))?;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| LambdaError::io("read the function's zip", std::io::Error::other(e)))?;
    archive
        .extract(to)
        .map_err(|e| LambdaError::io("unzip the function's code", std::io::Error::other(e)))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn the_task_folder_holds_the_code_and_tmp_belongs_to_the_user() {
        let code = tempfile::tempdir().unwrap();
        fs::create_dir(code.path().join("lib")).unwrap();
        fs::write(code.path().join("lib/app.py"), "x = 1").unwrap();
        fs::set_permissions(
            code.path().join("lib/app.py"),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        symlink("lib/app.py", code.path().join("link.py")).unwrap();
        let parent = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::create(parent.path(), Code::Folder(code.path())).unwrap();
        let app = sandbox.task_dir().join("lib/app.py");
        assert_eq!(fs::read_to_string(&app).unwrap(), "x = 1");
        assert_eq!(
            fs::metadata(&app).unwrap().mode() & 0o004,
            0o004,
            "readable by all"
        );
        assert_eq!(
            fs::read_link(sandbox.task_dir().join("link.py")).unwrap(),
            Path::new("lib/app.py")
        );
        let tmp = fs::metadata(sandbox.tmp_dir()).unwrap();
        assert_eq!(tmp.uid(), sandbox.uid());
        assert_eq!(tmp.mode() & 0o777, 0o700);
        assert_ne!(sandbox.uid(), 0);
        let root = sandbox.root.clone();
        drop(sandbox);
        assert!(!root.exists(), "the folders go with the sandbox");
    }

    #[test]
    fn each_sandbox_has_a_user_of_its_own() {
        let code = tempfile::tempdir().unwrap();
        let parent = tempfile::tempdir().unwrap();
        let a = Sandbox::create(parent.path(), Code::Folder(code.path())).unwrap();
        let b = Sandbox::create(parent.path(), Code::Folder(code.path())).unwrap();
        assert_ne!(a.uid(), b.uid());
    }
}
