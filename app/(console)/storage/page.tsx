import { StorageList } from "@/components/pages/storage";

export default function StoragePage() {
  return <StorageList />;
}
